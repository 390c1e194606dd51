"""The shared HL7 QuestionnaireResponse corpus (../shared/conformance/hl7-questionnaire), in place,
through the real ``adapter validate`` command.

For every case: the verdict the case's author expects (``expect_valid``: exit 0, else exit 1),
and for invalid cases an error at the same element as the reference validators (HL7 Java and
forms-lab .NET): at least one of our error locations is one of theirs, and none of ours is
unrelated to all of theirs. Locations are compared after removing trivial differences
(``value.ofType(X)`` and ``.display`` steps, a trailing ``.answer`` without index); an ancestor
of a reference location counts as related (Java reports missing items at the parent).
Where the references disagree with ``expect_valid`` the expected verdict wins: see
docs/validation.md, "Corpus decisions".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapter.cli import cli
from tests.conformance.hl7_paths import corpus_dir


def _cases() -> list[Any]:
    folder = corpus_dir("hl7-questionnaire")
    if folder is None:
        return [pytest.param(None, id="corpus-missing")]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["name"], marks=_KNOWN_GAPS.get(c["name"], ())) for c in manifest["cases"]]


# Cases failing because of a rule outside this area; strict, so fixing it turns the xfail red.
_KNOWN_GAPS: dict[str, pytest.MarkDecorator] = {}


_OFTYPE = re.compile(r"\.value\.ofType\(\w+\)")


def normalise(expr: str) -> str:
    expr = _OFTYPE.sub("", expr)
    expr = re.sub(r"\.display$", "", expr)
    expr = re.sub(r"\.answer$", "", expr)
    return re.sub(r"^QuestionnaireResponse\.?", "", expr)


def _related(a: str, b: str) -> bool:
    return a == b or b.startswith((a + ".", a + "[")) or a.startswith(b + ".") or a == ""


def error_locations(oo: dict[str, Any]) -> set[str]:
    return {normalise(e) for i in oo.get("issue", []) if i.get("severity") in ("error", "fatal")
            for e in i.get("expression") or i.get("location") or ["QuestionnaireResponse"]}


@pytest.mark.parametrize("case", _cases())
def test_hl7_corpus_case(case: dict[str, Any] | None, conformance: Path) -> None:
    assert case is not None
    folder = conformance / "hl7-questionnaire"
    args = ["validate", "--format", "json"]
    for ig in case["ig"]:
        args += ["--ig", str(folder / ig)]
    result = CliRunner().invoke(cli, args + [str(folder / case["response"])])
    oo = json.loads(result.output)
    assert oo["resourceType"] == "OperationOutcome"
    assert result.exit_code == (0 if case["expect_valid"] else 1), json.dumps(oo, ensure_ascii=False, indent=1)
    if case["expect_valid"]:
        return
    ours = error_locations(oo)
    theirs: set[str] = set()
    for ref in case["reference_outcomes"].values():
        theirs |= error_locations(json.loads((folder / ref).read_text(encoding="utf-8")))
    assert ours & theirs, f"no error at a reference location: ours {sorted(ours)}, references {sorted(theirs)}"
    stray = {o for o in ours if not any(_related(o, t) for t in theirs)}
    assert not stray, f"errors where no reference has one: {sorted(stray)} (references {sorted(theirs)})"
