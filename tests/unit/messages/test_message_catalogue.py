"""The message catalogue: one language per text, every id in both languages and in the package's
CodeSystem, Swedish texts a physician understands (issue 14 item 4)."""

from __future__ import annotations

import ast
import json
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from adapter import errors, messages
from adapter.validation import validate

ROOT = Path(__file__).resolve().parents[3]
CODESYSTEM = ROOT / "profiles" / "CodeSystem-lisn-message-id.json"
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"

# Words a physician should not meet in a Swedish text: FHIR element names and jargon (the place
# in the resource stays in ``expression``), and the wordings the review found foreign or wrong.
JARGON = re.compile(r"objekt|enableWhen|authored|provision|delmängd|signature wrapping|kedjar", re.IGNORECASE)
_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
# All-caps literals in the code that are not message ids (settings, constants, id prefixes).
NOT_IDS = {"CONFORMANCE_TYPES", "EXIT_USAGE",
           "LISN_PERSONNUMMER", "LISN_SAMORDNINGSNUMMER"}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_has_a_text_in_both_languages() -> None:
    cat = messages.catalogue()
    assert len(cat) > 300
    for mid, texts in cat.items():
        assert set(texts) == set(messages.LANGS), mid
        assert texts["sv"].strip() and texts["en"].strip(), mid
        # a text, not the id shown raw
        assert mid not in texts["sv"] and mid not in texts["en"], mid
        string.Formatter().parse(texts["sv"])  # well-formed templates
        _placeholders(texts["sv"]), _placeholders(texts["en"])


def test_every_message_id_the_code_uses_is_in_the_catalogue() -> None:
    """A static scan of adapter/: every all-caps literal shaped like a message id (the first
    argument of ``issues.add``, a ``message_id=``, an error class's id) has texts. This is what
    caught ``QUESTIONNAIRE_QR_ITEM_STRING_IN_CODING`` showing its raw id."""
    cat = messages.catalogue()
    used: dict[str, str] = {}
    for path in sorted((ROOT / "adapter").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ID.match(node.value):
                used.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    assert "QUESTIONNAIRE_QR_ITEM_STRING_IN_CODING" in used
    missing = {mid: where for mid, where in used.items()
               if mid not in cat and mid not in NOT_IDS and not mid.startswith("ADAPTER_")}  # settings
    assert not missing


def test_every_message_id_built_by_the_code_is_in_the_catalogue() -> None:
    """Ids built with f-strings (``f"QUESTIONNAIRE_QR_ITEM_{kind}_MIN"``, ``f"{prefix}_CHECKSUM"``
    for personnummer and samordningsnummer): each pattern names catalogue ids, and the identifier
    problems exist for both kinds of person number."""
    cat = messages.catalogue()
    patterns: dict[str, str] = {}
    for path in sorted((ROOT / "adapter").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            parts = [v.value if isinstance(v, ast.Constant) else None for v in node.values]
            fixed = "".join(p for p in parts if isinstance(p, str))
            if not re.fullmatch(r"[A-Z0-9_]+", fixed) or not any(isinstance(p, str) and p.startswith(
                    ("LISN_", "QUESTIONNAIRE_", "_")) for p in parts) or "settings.py" in path.name:
                continue
            pattern = "".join(re.escape(p) if isinstance(p, str) else "[A-Z0-9_]+" for p in parts)
            suffix_only = pattern.startswith("[A-Z0-9_]+_") and len(fixed) > 2  # f"{prefix}_X"
            if suffix_only or fixed.startswith(("LISN_", "QUESTIONNAIRE_")):
                patterns[pattern] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert len(patterns) >= 8
    for pattern, where in patterns.items():
        assert any(re.fullmatch(pattern, mid) for mid in cat), (pattern, where)
    for suffix in ("SHORT_FORM", "FORMAT", "DATE", "BIRTH_DATE", "CHECKSUM"):
        for prefix in ("LISN_PERSONNUMMER", "LISN_SAMORDNINGSNUMMER"):
            assert f"{prefix}_{suffix}" in cat
    for kind in ("INTEGER", "DECIMAL", "DATE", "TIME"):
        assert {f"QUESTIONNAIRE_QR_ITEM_{kind}_MIN", f"QUESTIONNAIRE_QR_ITEM_{kind}_MAX"} <= set(cat)


def test_swedish_texts_carry_no_fhir_jargon() -> None:
    """Placeholders (``{authored}``) are names for the code, not text: they are left out."""
    found = {mid: t["sv"] for mid, t in messages.catalogue().items()
             if JARGON.search(re.sub(r"\{[^{}]*\}", "", t["sv"]))}
    assert not found


def test_the_jargon_scan_can_fail() -> None:
    assert JARGON.search("Den obligatoriska gruppen har inga underobjekt")
    assert JARGON.search("Datumet authored är före")
    assert JARGON.search("möjlig signature wrapping")


def test_the_codesystem_lists_every_message_id() -> None:
    cs = json.loads(CODESYSTEM.read_text(encoding="utf-8"))
    assert cs["url"] == messages.SYSTEM
    codes = {c["code"]: c for c in cs["concept"]}
    assert set(codes) == set(messages.catalogue())
    assert cs["count"] == len(codes)
    for mid, texts in messages.catalogue().items():
        assert codes[mid]["display"] == texts["sv"]
        assert codes[mid]["designation"] == [{"language": "en", "value": texts["en"]}]
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_message_codesystem.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_implementation_guide_lists_the_codesystem() -> None:
    ig = json.loads((ROOT / "profiles" / "ImplementationGuide-se.lisn.fhir.json").read_text(encoding="utf-8"))
    refs = [r["reference"]["reference"] for r in ig["definition"]["resource"]]
    assert "CodeSystem/lisn-message-id" in refs


@pytest.mark.parametrize(("header", "lang"), [
    (None, "sv"), ("", "sv"), ("sv", "sv"), ("sv-SE", "sv"), ("en", "en"), ("en-GB", "en"),
    ("fr, en;q=0.5", "en"), ("sv;q=0.2, en;q=0.9", "en"), ("en;q=0", "sv"), ("*", "sv"),
    ("da, nb", "sv"), ("en-US,en;q=0.9,sv;q=0.8", "en"), ("q=1;;,", "sv"),
])
def test_accept_language_is_negotiated(header: str | None, lang: str) -> None:
    assert messages.negotiate(header) == lang


def test_a_language_outside_sv_and_en_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        validate({"resourceType": "Patient"}, lang="de")


def test_one_language_per_text_and_details_coding_on_every_issue() -> None:
    resource = {"resourceType": "Patient", "gender": "robot", "birthDate": "2020-13-45", "foo": 1}
    sv, en = validate(resource, lang="sv"), validate(resource, lang="en")
    assert [errors.message_id_of(i) for i in sv["issue"]] == [errors.message_id_of(i) for i in en["issue"]]
    cat = messages.catalogue()
    for a, b in zip(sv["issue"], en["issue"], strict=True):
        mid = errors.message_id_of(a)
        assert a["details"]["coding"] == [{"system": messages.SYSTEM, "code": mid}] == b["details"]["coding"]
        assert a["details"]["text"] != b["details"]["text"]
        # the Swedish text is the Swedish template filled in, with no English glued on
        fixed_sv = cat[mid]["sv"].split("{")[0]
        fixed_en = cat[mid]["en"].split("{")[0]
        assert a["details"]["text"].startswith(fixed_sv) and b["details"]["text"].startswith(fixed_en)
        if fixed_en.strip():
            assert fixed_en not in a["details"]["text"]


def test_the_all_ok_issue_is_in_the_chosen_language() -> None:
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert validate(bundle, lang="en")["issue"][0]["details"] == {
        "coding": [{"system": messages.SYSTEM, "code": "ALL_OK"}], "text": "No issues found."}
    assert validate(bundle)["issue"][0]["details"]["text"] == "Inga fel hittades."


def test_the_language_does_not_leak_out_of_a_call() -> None:
    validate({"resourceType": "Patient", "foo": 1}, lang="en")
    assert messages.current_lang() == "sv"
    with messages.use_lang("en"):
        assert messages.text("ALL_OK") == "No issues found."
        assert validate({"resourceType": "Patient", "foo": 1}, lang="sv")["issue"][0]["details"]["text"] == \
            validate({"resourceType": "Patient", "foo": 1}, lang="sv")["issue"][0]["details"]["text"]
        assert messages.current_lang() == "en"
    assert messages.text("ALL_OK") == "Inga fel hittades."


def test_a_parse_error_is_in_the_chosen_language() -> None:
    from adapter.validation import validate_bytes

    sv = validate_bytes(b'{"resourceType": "Patient",', lang="sv")["issue"][0]
    en = validate_bytes(b'{"resourceType": "Patient",', lang="en")["issue"][0]
    assert sv["details"]["text"].startswith("Ogiltig JSON") and "Invalid" not in sv["details"]["text"]
    assert en["details"]["text"].startswith("Invalid JSON") and "Ogiltig" not in en["details"]["text"]
    assert sv["details"]["coding"][0]["code"] == "LISN_INPUT_NOT_JSON"


def test_every_issue_is_coded_with_a_code_of_the_codesystem() -> None:
    """The example with twelve mistakes (profile invariants included, whose own id is
    ``url#key``), every base R4 case input and the example: each issue's ``details.coding``
    names a code the CodeSystem defines."""
    codes = {c["code"] for c in json.loads(CODESYSTEM.read_text(encoding="utf-8"))["concept"]}
    cases = ROOT / "tests" / "cases" / "validation"
    inputs = [cases / "acceptance" / "Bundle-twelve-mistakes.json", EXAMPLE,
              *sorted((cases / "inputs" / "base").glob("*.json"))]
    seen: set[str] = set()
    for path in inputs:
        for iss in validate(json.loads(path.read_text(encoding="utf-8")))["issue"]:
            [coding] = iss["details"]["coding"]
            assert coding["system"] == messages.SYSTEM and coding["code"] in codes, (path.name, coding)
            seen.add(coding["code"])
    assert {"LISN_INVARIANT", "ALL_OK", "Unrecognised_property_"} <= seen


def test_answer_types_are_said_in_the_chosen_language() -> None:
    """A physician reads "datum", not "date"; an integrator reads the FHIR type name."""
    bundle = json.loads((ROOT / "tests" / "cases" / "validation" / "acceptance" / "Bundle-twelve-mistakes.json")
                        .read_text(encoding="utf-8"))
    texts = {lang: next(i["details"]["text"] for i in validate(bundle, lang=lang)["issue"]
                        if errors.message_id_of(i) == "QUESTIONNAIRE_QR_ITEM_WRONGTYPE") for lang in ("sv", "en")}
    assert texts["sv"] == "Svaret på 'Jag har känt patienten sedan' har fel slags värde (text); frågan kräver datum"
    assert texts["en"] == "The answer to 'kannedom' must be of type date, not string"
    for fhir_type in ("boolean", "date", "Coding", "Quantity"):
        assert messages.type_name(fhir_type, "en") == fhir_type
        assert messages.type_name(fhir_type, "sv") != fhir_type
    assert messages.type_name("Signature", "sv") == "Signature"  # not listed: the FHIR name
