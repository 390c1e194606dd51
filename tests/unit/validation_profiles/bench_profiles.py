"""Benchmark: profile validation of the example submission, against baselines measured in the same run.

Run: ``.venv/bin/python tests/unit/validation_profiles/bench_profiles.py [--rounds N]``

Prints milliseconds per submission for (a) the profile part of validation as the
dispatcher runs it (Bundle checks + every resource against its profiles, identifiers,
template activation), (b) the same with FHIRPath item pruning switched off, (c) the same with every
FHIRPath constraint skipped (the engine's own cost), and (d) ``fhir.resources`` merely parsing the same Bundle, with the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from adapter.fhir.registry import default_registry  # noqa: E402
from adapter.issues import Issues  # noqa: E402
from adapter.validation import invariants  # noqa: E402
from adapter.validation.bundle import validate_bundle  # noqa: E402
from adapter.validation.profiles import validate_against_profiles  # noqa: E402

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def profile_validation(bundle: dict[str, Any], registry: Any) -> Issues:
    issues = Issues()
    validate_bundle(bundle, registry, issues)
    validate_against_profiles(bundle, registry, issues, path="Bundle")
    for i, entry in enumerate(bundle["entry"]):
        validate_against_profiles(entry["resource"], registry, issues, path=f"Bundle.entry[{i}].resource")
    return issues


def best_ms(fn: Callable[[], Any], rounds: int, per_round: int) -> float:
    """The median over rounds of the mean CPU time per call (CPU time and the median damp a busy machine)."""
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(per_round):
            fn()
        samples.append((time.process_time() - start) / per_round * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    raw = EXAMPLE.read_text(encoding="utf-8")
    bundle = json.loads(raw)
    registry = default_registry()
    assert not profile_validation(bundle, registry).has_errors
    ours = best_ms(lambda: profile_validation(bundle, registry), args.rounds, args.per_round)

    pruned = invariants._pruned
    invariants._pruned = lambda expression, node, resource, originals: (node, resource)
    try:
        unpruned = best_ms(lambda: profile_validation(bundle, registry), args.rounds, args.per_round)
    finally:
        invariants._pruned = pruned

    holds = invariants.holds
    invariants.holds = lambda expression, node, *, resource: True  # type: ignore[assignment]
    try:
        engine_only = best_ms(lambda: profile_validation(bundle, registry), args.rounds, args.per_round)
    finally:
        invariants.holds = holds

    from fhir.resources.R4B.bundle import Bundle  # the baseline: a model parse (R4B, closest to R4), no profiles

    baseline = best_ms(lambda: Bundle.model_validate_json(raw), args.rounds, args.per_round)
    print(f"profile validation, example submission : {ours:7.2f} ms  ({1000 / ours:,.0f}/s)")
    print(f"  same without item pruning             : {unpruned:7.2f} ms  (pruning speed-up {unpruned / ours:.2f}x)")
    print(f"  same with FHIRPath constraints skipped : {engine_only:7.2f} ms  (FHIRPath share {1 - engine_only / ours:.0%})")
    print(f"fhir.resources parse of the same Bundle : {baseline:7.2f} ms  (ratio parse/ours {baseline / ours:.2f}x)")


if __name__ == "__main__":
    main()
