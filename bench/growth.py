"""Growth: cost and peak memory as the certificate grows (1x, 10x, 100x text and repeated items).

For each factor the section times the in-process stages on the grown certificate and
records the peak traced allocation (``tracemalloc``) of one run. Linearity is judged by the
slope of log(time) against log(document size), fitted by least squares over the factors:
a slope near 1 is linear, clearly above 1 is worse than linear. The fit uses the fastest run
per size (as ``timeit`` advises: slower runs measure other work on the machine, not the code);
the mean and p95 are reported beside it. The fit uses CPU time of this process
(``process_time``), which other work on a shared machine disturbs far less than the wall clock.
"""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import certificates, stats

FACTORS = (1, 10, 100)
LINEAR_SLOPE_LIMIT = 1.15  # allows for timer noise and constant per-call costs on small inputs


def _stages() -> dict[str, Callable[[bytes], Any]]:
    """The stages available in this checkout, each a function of the raw submission bytes."""
    from adapter.fhir.parse import parse_json

    out: dict[str, Callable[[bytes], Any]] = {"parse": parse_json}
    try:
        from adapter.fhir.registry import default_registry
        from adapter.validation import validate_bytes

        registry = default_registry()
        out["parse_validate"] = lambda raw: validate_bytes(raw, registry)
    except ImportError:
        pass
    try:
        from adapter.outbound import render_municipal_xml

        out["parse_transform"] = lambda raw: render_municipal_xml(parse_json(raw))
    except ImportError:
        pass
    return out


def _peak_bytes(call: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def loglog_slope(sizes: list[float], costs: list[float]) -> float:
    """Least-squares slope of log(cost) over log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(c) for c in costs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def _one_stage(call: Callable[[bytes], Any], docs: dict[int, bytes], quick: bool) -> dict[str, Any]:
    rows = []
    for factor, raw in docs.items():
        runs, budget = (5, 0.3) if quick else (30, 3.0)
        timing = stats.measure(lambda raw=raw: _safe(call, raw), min_runs=runs, budget_s=budget, warmup=1)
        rows.append({"factor": factor, "bytes": len(raw), "cpu_min_ms": timing["cpu_min_ms"], "min_ms": timing["min_ms"],
                     "mean_ms": timing["mean_ms"], "p95_ms": timing["p95_ms"],
                     "peak_memory_bytes": _peak_bytes(lambda raw=raw: _safe(call, raw))})
    base = rows[0]
    for row in rows:
        row["time_ratio_vs_1x"] = row["cpu_min_ms"] / base["cpu_min_ms"]
        row["size_ratio_vs_1x"] = row["bytes"] / base["bytes"]
        row["memory_ratio_vs_1x"] = row["peak_memory_bytes"] / base["peak_memory_bytes"]
    time_slope = loglog_slope([r["bytes"] for r in rows], [r["cpu_min_ms"] for r in rows])
    mem_slope = loglog_slope([r["bytes"] for r in rows], [r["peak_memory_bytes"] for r in rows])
    return {"rows": rows, "time_slope": time_slope, "memory_slope": mem_slope,
            "linear": time_slope <= LINEAR_SLOPE_LIMIT and mem_slope <= LINEAR_SLOPE_LIMIT}


def _safe(call: Callable[[bytes], Any], raw: bytes) -> Any:
    # The 100x certificate breaks the 4000-character limit; a stage may answer with an
    # error (an AdapterError) and that answer is what we time.
    from adapter.errors import AdapterError

    try:
        return call(raw)
    except AdapterError as exc:
        return exc.outcome


def growth(*, quick: bool) -> dict[str, Any]:
    example = certificates.example()
    docs = {f: certificates.to_bytes(certificates.grown(example, f)) for f in FACTORS}
    return {"status": "ok", "factors": list(FACTORS), "linear_slope_limit": LINEAR_SLOPE_LIMIT,
            "stages": {name: _one_stage(call, docs, quick) for name, call in _stages().items()}}
