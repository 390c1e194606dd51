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

Two more variants, in rounds of five calls alternating with plain ``validate`` and the baseline,
show where the time goes in the same run:
``validate, FHIRPath by fhirpathpy`` (every expression handed to fhirpathpy, as before the
compiler: ``adapter.fhirpath`` falls back for all) and ``validate, no invariants`` (every
FHIRPath invariant taken as holding: the cost of everything else).

Issue 15's target is meant with the base R4 checks on (issue 14). Whether they are is probed,
not assumed: ``{"resourceType": "Foo"}`` must give an error. The result says ``base_r4_checks``
so that figures taken before and after that work lands are not mixed up; rerun after merging it.

Each interleaved call's CPU time (``time.process_time``) is recorded too: on a shared machine
other processes disturb it much less than wall time, so its ratio is printed as well.

Prints a table and one JSON object. ``python -m bench.bench_validate [--seconds N]``;
``run(quick=True)`` is what ``bench/micro.py`` attaches.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def base_r4_checks() -> bool:
    """Whether validation checks base R4 (an unknown resource type is an error)."""
    from adapter import errors
    from adapter.validation import validate_bytes

    return errors.has_errors(validate_bytes(b'{"resourceType": "Foo"}'))


@contextmanager
def _variant(name: str) -> Iterator[None]:
    """``fhirpathpy``: every FHIRPath expression evaluated by fhirpathpy; ``no-invariants``: none."""
    from adapter import fhirpath
    from adapter.fhirpath import compiler, direct
    from adapter.validation import invariants

    def reject(tree: Any) -> Any:
        raise fhirpath.Unsupported("benchmark variant: fhirpathpy only")

    original_tree, original_direct, original_holds = compiler.compile_tree, direct.compile_direct, invariants.holds
    if name == "fhirpathpy":
        fhirpath.compile_tree = reject
        direct.compile_direct = lambda tree: None  # (made before the closures, without them)
    elif name == "no-invariants":
        invariants.holds = lambda *args, **kwargs: True
    invariants.forget_compiled()
    fhirpath.cached.cache_clear()
    try:
        yield
    finally:
        fhirpath.compile_tree = original_tree
        direct.compile_direct = original_direct
        invariants.holds = original_holds
        invariants.forget_compiled()
        fhirpath.cached.cache_clear()


def measure(seconds: float = 5.0) -> dict[str, Any]:
    """Latencies (ms) per subject, interleaved in rounds for about ``seconds`` in all."""
    raw = EXAMPLE.read_bytes()
    subjects = _subjects(raw)
    for f in subjects.values():
        f()  # warm caches (Questionnaire index, ValueSet expansions, FHIRPath parses)
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    cpu: dict[str, list[float]] = {name: [] for name in subjects}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(len(v) for v in samples.values()) < 20:
        for name, f in subjects.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            samples[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
    blocks = {name: _block(f, seconds / 6) for name, f in subjects.items()}
    variants = _variants(subjects, seconds / 2)
    from adapter import native

    return {"document_bytes": len(raw), "base_r4_checks": base_r4_checks(), "loadavg_at_start": os.getloadavg(),
            "validator": native.describe(),
            "subjects": {n: _summary(v) for n, v in samples.items()},
            "variants": {n: _summary(v) for n, v in variants.items()},
            "variant_ratios_vs_fhir_resources": _ratios(variants),
            "ratios_vs_fhir_resources": _ratios(samples),
            "cpu_ms": {n: round(statistics.median(v), 3) for n, v in cpu.items()},
            "cpu_ratios_vs_fhir_resources": _ratios(cpu),
            "blocks": {n: _summary(v) for n, v in blocks.items()},
            "block_ratios_vs_fhir_resources": _ratios(blocks)}


_VARIANTS = {"validate": None, "validate, FHIRPath by fhirpathpy": "fhirpathpy",
             "validate, no invariants": "no-invariants", "fhir.resources R4B parse": None}


def _variants(subjects: dict[str, Callable[[], Any]], seconds: float) -> dict[str, list[float]]:
    """The validate variants and the baseline in rounds of five calls each (after one untimed
    call that compiles the variant's expressions), so that a change of load hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name in _VARIANTS}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(len(v) for v in samples.values()) < 20:
        for name, variant in _VARIANTS.items():
            f = subjects["fhir.resources R4B parse" if name.startswith("fhir") else "validate"]
            with _variant(variant or "compiled"):
                f()
                for _ in range(5):
                    t0 = time.perf_counter()
                    f()
                    samples[name].append((time.perf_counter() - t0) * 1000)
    return samples


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
    rows = [f"example submission ({result['document_bytes']} bytes), load {result['loadavg_at_start'][0]:.1f}, "
            f"base R4 checks {'ON' if result['base_r4_checks'] else 'OFF (not merged yet: rerun after issue 14)'}, "
            f"{result['validator']}; "
            "target: validate >= 2x fhir.resources"]
    cpu = result["cpu_ms"]
    rows.append("CPU time (time.process_time), interleaved rounds, median ms: "
                + ", ".join(f"{n} {v}" for n, v in cpu.items())
                + f"; validate x fhir.resources by CPU: {result['cpu_ratios_vs_fhir_resources']['validate']:.2f}")
    for title, key, rkey in (("interleaved rounds", "subjects", "ratios_vs_fhir_resources"),
                             ("each alone, back to back", "blocks", "block_ratios_vs_fhir_resources"),
                             ("variants, rounds of five", "variants", "variant_ratios_vs_fhir_resources")):
        rows.append(f"{title:<36}{'per s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'x fhir.resources':>18}")
        ratios = result[rkey]
        for name, s in result[key].items():
            ratio = f"{ratios[name]:.2f}" if name in ratios else "1 (baseline)"
            rows.append(f"  {name:<34}{s['per_second']:>9}{s['p50_ms']:>9}{s['p90_ms']:>9}{s['p99_ms']:>9}{ratio:>18}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    result = {"status": "ok", **measure(parser.parse_args().seconds)}
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
