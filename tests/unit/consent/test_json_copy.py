"""Two shortcuts on the submission path, each against the general form it replaces:

* ``consent.references.json_copy`` (the copy ``inline_references`` changes) against ``copy.deepcopy``
  on every JSON file of the examples and test cases and on generated JSON; the inlined Consents of
  every example Bundle as with ``copy.deepcopy``, the Bundle untouched;
* ``flows.stats.row_fields`` against ``dataclasses.asdict`` on the statistics rows of the examples
  and of synthetic certificates.

Each with a negative control: the test fails when the shortcut is made wrong on purpose.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapter.consent import references
from adapter.fhir.submission import Submission
from adapter.flows import stats as flow_stats
from adapter.stats import synth
from adapter.stats.row import statistics_row

ROOT = Path(__file__).resolve().parents[3]


def _documents() -> list[Any]:
    found = []
    for folder in (ROOT / "profiles" / "examples", ROOT / "tests" / "cases", ROOT / "tests" / "unit" / "consent"):
        for path in sorted(folder.rglob("*.json")):
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError):
                continue
    return found


def _generated(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.3:
        return {f"k{i}": _generated(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.5:
        return [_generated(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice(["text", "", 0, -3, 2.5, True, False, None, Decimal("1.10"), ("a", "tuple"), {"a", "set"}])


def _identical_and_separate(original: Any, copied: Any) -> bool:
    """Equal as values, of the same types everywhere, and no dict or list shared with the original."""
    if type(original) is not type(copied) or original != copied:
        return False
    if isinstance(original, dict):
        return copied is not original and all(_identical_and_separate(original[k], copied[k]) for k in original)
    if isinstance(original, list):
        return copied is not original and all(
            _identical_and_separate(a, b) for a, b in zip(original, copied, strict=True))
    return True


def _copy_differences(values: list[Any]) -> int:
    wrong = 0
    for value in values:
        copied = references.json_copy(value)
        if not (_identical_and_separate(value, copied) and copied == copy.deepcopy(value)):
            wrong += 1
    return wrong


def _inlined_differences() -> int:
    wrong = 0
    for path in sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        before = copy.deepcopy(bundle)
        sub = Submission(bundle)
        fast = [references.inline_references(c, sub.resolve) for c in sub.consents]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(references, "json_copy", copy.deepcopy)
            general = [references.inline_references(c, sub.resolve) for c in Submission(bundle).consents]
        wrong += (fast != general) + (bundle != before)
    return wrong


def _values() -> list[Any]:
    rng = random.Random(15)
    return _documents() + [_generated(rng) for _ in range(2000)]


def test_json_copy_is_deepcopy_on_json() -> None:
    values = _values()
    assert len(values) > 2000
    assert _copy_differences(values) == 0


def test_inline_references_as_with_deepcopy_and_the_bundle_untouched() -> None:
    assert _inlined_differences() == 0


def test_negative_control_a_shallow_copy_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(references, "json_copy", lambda v: dict(v) if isinstance(v, dict) else v)
    assert _copy_differences(_values()) > 0
    assert _inlined_differences() > 0  # the inlining now writes into the Bundle's own Consent


def test_row_fields_is_asdict() -> None:
    rows = [statistics_row(b, synth.received_at(b)) for b in synth.synthetic_certificates(60)]
    for path in sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")):
        rows.append(statistics_row(json.loads(path.read_text(encoding="utf-8")), datetime(2026, 12, 4, tzinfo=UTC)))
    assert any(r.activities for r in rows)
    for row in rows:
        found = flow_stats.row_fields(row)
        assert found == asdict(row)
        assert found["activities"] is not row.activities


def test_negative_control_row_fields_missing_a_field_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = flow_stats.row_fields

    def without_measures(facts: Any) -> dict[str, Any]:
        found = original(facts)
        found["measures"] = ()
        return found

    monkeypatch.setattr(flow_stats, "row_fields", without_measures)
    rows = [statistics_row(b, synth.received_at(b)) for b in synth.synthetic_certificates(60)]
    assert any(flow_stats.row_fields(r) != asdict(r) for r in rows)
