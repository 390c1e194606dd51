"""Two shortcuts of the assessment's remarks (issue 15 target 6) and one input they must survive:
``item_path`` stops its walk at the item instead of making the whole ``item_paths`` table (it must
give the same location for every key), and a diagnosis code that is not a string (an unvalidated
Bundle, which ``adapter to-xml`` renders) is no crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.cli import cli
from adapter.fhir.submission import Submission
from adapter.outbound import render_municipal_xml
from adapter.outbound.assessment import AnswerIndex, assess, item_path, item_paths
from tests.unit.outbound.test_outbound_assessment import CASES, build_case

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json"))
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _responses() -> list[dict[str, Any]]:
    bundles = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES] + [build_case(c) for c in CASES]
    return [qr for b in bundles if (qr := Submission(b).response) is not None]


def _keys(qr: dict[str, Any]) -> set[str]:
    table = item_paths(qr)
    return set(table) | {"nowhere", "nowhere#0", "diagnos#99", "diagnos#01", ""}


def test_item_path_is_the_table_entry_for_every_key_of_every_case() -> None:
    responses = _responses()
    assert len(responses) >= 40
    for qr in responses:
        table = item_paths(qr)
        for key in _keys(qr):
            assert item_path(qr, key) == table.get(key), key


link_ids = st.sampled_from(["a", "b", "a#0", "a#1", "b#0", "a#01", "", "7"])
items = st.recursive(
    st.fixed_dictionaries({"linkId": link_ids}),
    lambda inner: st.fixed_dictionaries({"linkId": link_ids}, optional={
        "item": st.lists(inner, max_size=3),
        "answer": st.lists(st.fixed_dictionaries({"valueString": st.just("x")},
                                                 optional={"item": st.lists(inner, max_size=3)}), max_size=2)}),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(children=st.lists(items, max_size=4))
def test_item_path_agrees_with_the_table_where_linkids_look_like_keys(children: list[dict[str, Any]]) -> None:
    """linkIds that contain ``#n`` themselves: the table's later ``L#n`` entries win over them."""
    qr = {"resourceType": "QuestionnaireResponse", "item": children}
    table = item_paths(qr)
    for key in _keys(qr) | {"a#0", "a#1", "a#2", "b#0"}:
        assert item_path(qr, key) == table.get(key), key


def _with_code(bundle: dict[str, Any], code: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(bundle)
    response = Submission(bundle).response
    assert response is not None
    stack = list(response["item"])
    while stack:
        item = stack.pop()
        if item.get("linkId") == "diagnos.kod":
            item["answer"][0]["valueCoding"]["code"] = code
        stack.extend(item.get("item") or [])
    return bundle


def test_a_diagnosis_code_that_is_not_a_string_is_no_social_circumstance() -> None:
    bundle = _with_code(json.loads(EXAMPLE.read_text(encoding="utf-8")), 73)
    qr = Submission(bundle).response
    assert qr is not None
    summary = assess(qr, index=AnswerIndex())  # raised AttributeError ("int" has no "upper")
    assert "LISN_ASSESS_SOCIAL_DIAGNOSIS_ONLY" not in {r.code for r in summary.kvalitetsanmarkningar}
    assert b'kod="73"' in render_municipal_xml(bundle)


def test_the_cli_renders_an_unvalidated_bundle_with_such_a_code(tmp_path: Path) -> None:
    """``adapter to-xml`` and ``adapter render`` do not validate a Bundle: this input reached the
    rule (an internal error before)."""
    path = tmp_path / "int-code.json"
    path.write_text(json.dumps(_with_code(json.loads(EXAMPLE.read_text(encoding="utf-8")), 73)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["to-xml", str(path)])
    assert result.exit_code == 0, result.output
    assert b'kod="73"' in result.stdout_bytes
    result = CliRunner().invoke(cli, ["render", str(path), "-o", str(tmp_path / "view.html")])
    assert result.exit_code == 0, result.output
    assert "73 Medelsvår depressiv episod" in (tmp_path / "view.html").read_text(encoding="utf-8")
