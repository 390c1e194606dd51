"""Golden files: tests/golden/inbound/<format>/<name>.input.* -> <name>.expected.json (+ <name>.report.json).

Found by glob. Regenerate after an intended change with ``LISN_REGENERATE_GOLDEN=1 pytest tests/unit/inbound``
and review the diff; without the flag a difference fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from inbound_helpers import GOLDEN, check_submission, check_traceable, golden_inputs, side_inputs

from adapter import errors
from adapter.inbound import run_mapping

REGENERATE = os.environ.get("LISN_REGENERATE_GOLDEN") == "1"


def _report(issues: list[dict]) -> list[dict]:
    return [{"severity": i["severity"], "id": errors.message_id_of(i), "location": i.get("location")}
            for i in issues]


def _dump(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


@pytest.mark.parametrize("case", golden_inputs(), ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}")
def test_golden(case: Path) -> None:
    fmt, name = case.parent.name, case.name.split(".")[0]
    raw = case.read_bytes()
    bundle, issues, trace = run_mapping(raw, fmt, inputs=side_inputs(case))
    assert bundle is not None, issues.outcome()
    expected, report = case.with_name(f"{name}.expected.json"), case.with_name(f"{name}.report.json")
    if REGENERATE:
        expected.write_text(_dump(bundle), encoding="utf-8")
        report.write_text(_dump(_report(issues.items)), encoding="utf-8")
    assert _dump(bundle) == expected.read_text(encoding="utf-8")
    assert _report(issues.items) == json.loads(report.read_text(encoding="utf-8"))
    check_submission(bundle)
    check_traceable(fmt, raw, bundle, trace)


def test_every_golden_input_has_its_expected_files() -> None:
    cases = golden_inputs()
    assert {c.parent.name for c in cases} >= {"fhir", "inera-xml", "openehr-flat", "inera-lisjp", "inera-ag7804",
                                              "openehr-arbetsformaga"}
    for case in cases:
        name = case.name.split(".")[0]
        assert case.with_name(f"{name}.expected.json").is_file(), case
        assert case.with_name(f"{name}.report.json").is_file(), case
    assert not [p for p in GOLDEN.glob("*/*.expected.json")
                if not list(p.parent.glob(p.name.replace(".expected.json", ".input.*")))], "orphan expected files"


@pytest.mark.parametrize("case", golden_inputs(), ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}")
def test_same_input_gives_byte_identical_output(case: Path) -> None:
    raw = case.read_bytes()
    first, _, _ = run_mapping(raw, case.parent.name, inputs=side_inputs(case))
    second, _, _ = run_mapping(raw, case.parent.name, inputs=side_inputs(case))
    assert _dump(first) == _dump(second)
