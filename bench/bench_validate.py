"""Validation speed: the example submission, against fhir.resources parsing the same bytes.

Measured in one run, first interleaved round by round (a busy machine slows every subject alike,
and each subject finds the CPU caches as the others left them, as in a service), then each
subject alone, back to back (warm caches: the best case for each):

- ``validate``: ``adapter.validation.validate_bytes`` (parse + every check: Questionnaire,
  profiles, identifiers, Bundle references, FHIRPath invariants) of the example submission;
- ``questionnaire_response``: the QuestionnaireResponse-vs-Questionnaire checks alone
  (``validate_response`` on the parsed response: the part this benchmark's owner can speed up);
- baseline ``fhir.resources``: ``fhir.resources.R4B.bundle.Bundle.model_validate_json`` of the
  same bytes (pydantic models: parse and type checks only, no Questionnaire, no profiles).

Prints a table and one JSON object. ``python -m bench.bench_validate [--seconds N]``;
``run(quick=True)`` is what ``bench/micro.py`` attaches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _subjects(raw: bytes) -> dict[str, Callable[[], Any]]:
    from fhir.resources.R4B.bundle import Bundle

    from adapter.fhir.registry import default_registry
    from adapter.issues import Issues
    from adapter.validation import validate_bytes
    from adapter.validation.questionnaire_response import validate_response

    registry = default_registry()
    response = json.loads(raw)["entry"][1]["resource"]
    return {
        "validate": lambda: validate_bytes(raw, registry),
        "questionnaire_response": lambda: validate_response(response, registry, Issues()),
        "fhir.resources R4B parse": lambda: Bundle.model_validate_json(raw),
    }


def measure(seconds: float = 5.0) -> dict[str, Any]:
    """Latencies (ms) per subject, interleaved in rounds for about ``seconds`` in all."""
    raw = EXAMPLE.read_bytes()
    subjects = _subjects(raw)
    for f in subjects.values():
        f()  # warm caches (Questionnaire index, ValueSet expansions, FHIRPath parses)
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(len(v) for v in samples.values()) < 20:
        for name, f in subjects.items():
            t0 = time.perf_counter()
            f()
            samples[name].append((time.perf_counter() - t0) * 1000)
    blocks = {name: _block(f, seconds / 6) for name, f in subjects.items()}
    return {"document_bytes": len(raw), "subjects": {n: _summary(v) for n, v in samples.items()},
            "ratios_vs_fhir_resources": _ratios(samples),
            "blocks": {n: _summary(v) for n, v in blocks.items()},
            "block_ratios_vs_fhir_resources": _ratios(blocks)}


def _block(f: Callable[[], Any], seconds: float) -> list[float]:
    """One subject alone, back to back (warm caches: the best case for each)."""
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(out) < 20:
        t0 = time.perf_counter()
        f()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    pct = lambda p: ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]  # noqa: E731
    median = statistics.median(ordered)
    return {"runs": len(ordered), "per_second": round(1000 / median, 1), "p50_ms": round(median, 3),
            "p90_ms": round(pct(90), 3), "p99_ms": round(pct(99), 3), "max_ms": round(ordered[-1], 3)}


def _ratios(samples: dict[str, list[float]]) -> dict[str, float]:
    base = statistics.median(samples["fhir.resources R4B parse"])
    return {n: round(base / statistics.median(v), 2) for n, v in samples.items() if n != "fhir.resources R4B parse"}


def run(*, quick: bool = False) -> dict[str, Any]:
    return {"status": "ok", **measure(1.0 if quick else 5.0)}


def table(result: dict[str, Any]) -> str:
    rows = []
    for title, key, rkey in (("interleaved rounds", "subjects", "ratios_vs_fhir_resources"),
                             ("each alone, back to back", "blocks", "block_ratios_vs_fhir_resources")):
        rows.append(f"{title:<26}{'per s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'x fhir.resources':>18}")
        ratios = result[rkey]
        for name, s in result[key].items():
            ratio = f"{ratios[name]:.2f}" if name in ratios else "1 (baseline)"
            rows.append(f"  {name:<24}{s['per_second']:>9}{s['p50_ms']:>9}{s['p90_ms']:>9}{s['p99_ms']:>9}{ratio:>18}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    result = run() if parser.parse_args().seconds == 5.0 else {"status": "ok", **measure(parser.parse_args().seconds)}
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
