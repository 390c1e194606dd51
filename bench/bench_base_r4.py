"""The cost of the base R4 checks: validation with and without them, in the same run.

Subjects, interleaved round by round (a busy machine slows each alike), on the example submission
and on the HL7 base corpus (``../shared/conformance/hl7-base``, its JSON cases, when present):

- ``with base R4``: ``adapter.validation.validate_bytes`` as shipped (parse, the one structure walk
  with the core definitions and the profiles, every resource-level check);
- ``profiles only``: the same parse and the same resource-level and profile checks, dispatched as
  before the base checks existed (``validate_against_profiles`` per resource, Bundle entries one by
  one: no structure walk, no core invariants);
- baseline ``fhir.resources R4B parse`` of the same bytes.

Then one instrumented pass says where the added time goes: the core invariants (FHIRPath through
``adapter.validation.invariants``) against the rest of the walk. ``python -m bench.bench_base_r4
[--seconds N]``; prints a table and one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _corpus() -> list[bytes]:
    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    folder = (Path(env) if env else ROOT.parent / "shared" / "conformance") / "hl7-base"
    if not (folder / "manifest.json").is_file():
        return []
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [(folder / c["file"]).read_bytes() for c in manifest["cases"]
            if c["file"].endswith(".json") and not c.get("malformed")]


def profiles_only(raw: bytes, registry: Any) -> Any:
    """The validator as it was before the base checks: the same checks, no structure walk."""
    from adapter.fhir import parse
    from adapter.issues import Issues
    from adapter.validation import bundle, profiles
    from adapter.validation.questionnaire import check_questionnaire
    from adapter.validation.questionnaire_response import validate_response

    def one(res: dict[str, Any], issues: Issues, path: str) -> None:
        kind = res.get("resourceType")
        if kind == "Bundle":
            bundle.validate_bundle(res, registry, issues, path=path)
        elif kind == "QuestionnaireResponse":
            validate_response(res, registry, issues, path=path)
        elif kind == "Questionnaire":
            check_questionnaire(res, issues, path=path)
        profiles.validate_against_profiles(res, registry, issues, path=path)
        if kind == "Bundle":
            for i, entry in enumerate(res.get("entry") or []):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    one(entry["resource"], issues, f"{path}.entry[{i}].resource")

    issues = Issues()
    data = parse.parse_json(raw)
    one(data, issues, str(data.get("resourceType")))
    return issues.outcome()


def _subjects(docs: list[bytes]) -> dict[str, Callable[[], Any]]:
    from fhir.resources.R4B import get_fhir_model_class

    from adapter.fhir.registry import default_registry
    from adapter.validation import validate_bytes

    registry = default_registry()
    classes = [get_fhir_model_class(json.loads(d)["resourceType"]) for d in docs]

    def each(f: Callable[[bytes], Any]) -> Callable[[], None]:
        return lambda: [f(d) for d in docs] and None

    return {
        "with base R4": each(lambda d: validate_bytes(d, registry)),
        "profiles only": each(lambda d: profiles_only(d, registry)),
        "fhir.resources R4B parse": each_model(classes, docs),
    }


def each_model(classes: list[Any], docs: list[bytes]) -> Callable[[], None]:
    """fhir.resources parsing each document; an invalid one is refused, which is its cost too."""
    def parse_all() -> None:
        for cls, doc in zip(classes, docs):
            with contextlib.suppress(ValueError):  # pydantic's ValidationError
                cls.model_validate_json(doc)
    return parse_all


def _interleaved(subjects: dict[str, Callable[[], Any]], seconds: float) -> dict[str, list[float]]:
    for f in subjects.values():
        f()
    samples: dict[str, list[float]] = {n: [] for n in subjects}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(len(v) for v in samples.values()) < 10:
        for name, f in subjects.items():
            t0 = time.perf_counter()
            f()
            samples[name].append((time.perf_counter() - t0) * 1000)
    return samples


def where_it_goes(docs: list[bytes], rounds: int = 10) -> dict[str, float]:
    """ms per pass over ``docs`` spent in the core invariants, measured by wrapping their evaluation."""
    from adapter.fhir.registry import default_registry
    from adapter.validation import structure, validate_bytes

    registry = default_registry()
    spent = [0.0]
    original = structure.run_constraints

    def timed(*args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        original(*args, **kwargs)
        spent[0] += time.perf_counter() - t0

    structure.run_constraints = timed  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        for _ in range(rounds):
            for d in docs:
                validate_bytes(d, registry)
        total = time.perf_counter() - t0
    finally:
        structure.run_constraints = original  # type: ignore[assignment]
    return {"validate_ms": round(total / rounds * 1000, 3), "core_invariants_ms": round(spent[0] / rounds * 1000, 3)}


def measure(seconds: float = 5.0) -> dict[str, Any]:
    out: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    corpus = _corpus()
    for label, docs in (("example submission", [EXAMPLE.read_bytes()]), ("hl7-base JSON cases", corpus)):
        if not docs:
            out[label] = {"status": "missing (set ADAPTER_CONFORMANCE_DIR)"}
            continue
        samples = _interleaved(_subjects(docs), seconds / 2)
        medians = {n: statistics.median(v) for n, v in samples.items()}
        base = medians["fhir.resources R4B parse"]
        out[label] = {
            "documents": len(docs), "bytes": sum(len(d) for d in docs),
            "p50_ms": {n: round(m, 3) for n, m in medians.items()},
            "x_fhir_resources": {n: round(base / m, 2) for n, m in medians.items()},
            "base_checks_cost": round(medians["with base R4"] / medians["profiles only"], 2),
            "breakdown": where_it_goes(docs),
        }
    return out


def table(result: dict[str, Any]) -> str:
    rows = [f"load average {result['load_average']:.2f}"]
    for label, r in result.items():
        if not isinstance(r, dict) or "p50_ms" not in r:
            continue
        rows.append(f"{label} ({r['documents']} documents, {r['bytes']} bytes)")
        for name, ms in r["p50_ms"].items():
            rows.append(f"  {name:<26}{ms:>10.2f} ms{r['x_fhir_resources'][name]:>8.2f} x fhir.resources")
        b = r["breakdown"]
        rows.append(f"  with/without base checks: {r['base_checks_cost']:.2f}x; of {b['validate_ms']:.2f} ms "
                    f"(instrumented) {b['core_invariants_ms']:.2f} ms are core invariants")
    return "\n".join(rows)


def run(*, quick: bool = False) -> dict[str, Any]:
    return {"status": "ok", **measure(2.0 if quick else 10.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    result = {"status": "ok", **measure(parser.parse_args().seconds)}
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
