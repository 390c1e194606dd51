"""The shared HL7 base-R4 corpus (../shared/conformance/hl7-base), in place, through ``adapter validate``.

Every case is run as ``adapter validate --format json FILE`` and compared as ``hl7-base/README.md``
says: a valid case exits 0; a malformed one exits 2, or 1 with an error; an invalid one exits 1
with at least one error at the same element as one of the Java validator's errors
(:mod:`tests.conformance.hl7_paths`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapter.cli import cli
from tests.conformance.hl7_paths import corpus_dir, java_location, matches, normalise


def _cases() -> list[Any]:
    folder = corpus_dir("hl7-base")
    if folder is None:
        return [pytest.param(None, id="corpus-missing")]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [pytest.param(c, id=Path(c["file"]).name) for c in manifest["cases"]]


def run_case(folder: Path, case: dict[str, Any]) -> tuple[bool, str]:
    """(passed, explanation) for one case."""
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(folder / case["file"])])
    oo = json.loads(result.output)
    errors = [i for i in oo.get("issue", []) if i.get("severity") in ("error", "fatal")]
    shown = json.dumps([(i.get("expression"), (i.get("details") or {}).get("text")) for i in errors],
                       ensure_ascii=False, indent=1)
    if case["expect_valid"]:
        return result.exit_code == 0, f"expected valid, exit {result.exit_code}: {shown}"
    if case.get("malformed"):
        return result.exit_code == 2 or (result.exit_code == 1 and bool(errors)), f"exit {result.exit_code}"
    if result.exit_code != 1:
        return False, f"expected invalid, exit {result.exit_code}"
    theirs = [java_location(e["expression"], e["text"]) for e in case["java_errors"]]
    if any(t is None for t in theirs):
        return True, "a Java error without an element"
    ours = [normalise(x) for i in errors for x in i.get("expression") or []]
    hit = any(matches(o, t) for o in ours for t in theirs if t is not None)
    return hit, f"no error at a Java element; ours {shown}; Java {[e['expression'] for e in case['java_errors']]}"


@pytest.mark.parametrize("case", _cases())
def test_hl7_base_case(case: dict[str, Any] | None, conformance: Path) -> None:
    assert case is not None
    passed, why = run_case(conformance / "hl7-base", case)
    assert passed, why
