"""Acceptance: a copy of the example submission with twelve different mistakes.

``adapter validate`` must list each of them with its exact path, its message id and a Swedish
(+ English) sentence, and exit 1. Half of the mistakes are found by the Questionnaire checks,
half by the profile checks (identifiers, Bundle references, FHIRPath invariants).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from adapter import errors, messages
from adapter.cli import cli

CASES = Path(__file__).resolve().parents[2] / "cases" / "validation" / "acceptance"
BUNDLE = CASES / "Bundle-twelve-mistakes.json"
EXPECTED = yaml.safe_load((CASES / "Bundle-twelve-mistakes.expected.yaml").read_text(encoding="utf-8"))["expected"]


def test_twelve_mistakes_each_listed_with_path_and_id() -> None:
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(BUNDLE)])
    assert result.exit_code == 1
    oo = json.loads(result.output)
    found = {(errors.message_id_of(i), e) for i in oo["issue"] if i["severity"] == "error" for e in i["expression"]}
    assert len(EXPECTED) == 12
    missing = [x for x in EXPECTED if (x["id"], x["expression"]) not in found]
    assert not missing, f"not reported: {missing}"


@pytest.mark.parametrize(("lang", "word"), [("sv", "rad"), ("en", "line")])
def test_twelve_mistakes_text_lines_are_readable(lang: str, word: str) -> None:
    result = CliRunner().invoke(cli, ["validate", "--lang", lang, str(BUNDLE)])
    assert result.exit_code == 1
    for x in EXPECTED:
        line = next((ln for ln in result.output.splitlines() if f"[{x['id']}]" in ln and x["expression"] + " " in ln), None)
        assert line is not None, x
        # a catalogue text in the chosen language (profile invariants carry their own human text)
        text = messages.catalogue().get(x["id"], {}).get(lang, "").split("{")[0]
        assert line.startswith("ERROR") and f"({word} " in line and text in line


def test_the_example_itself_is_clean() -> None:
    example = Path(__file__).resolve().parents[3] / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
    result = CliRunner().invoke(cli, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    assert "[ALL_OK]" in result.output
