"""The consent decision on a table of cases (tests/unit/consent/data/cases.json)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.consent import CertificateFacts, decide_consent, inline_references
from adapter.fhir.submission import Submission

DATA = Path(__file__).parent / "data"
TABLE = json.loads((DATA / "cases.json").read_text(encoding="utf-8"))
BASE = json.loads((DATA / "consent-base.json").read_text(encoding="utf-8"))
EXAMPLE = Path(__file__).resolve().parents[3] / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (null deletes)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


FACTS = CertificateFacts(**TABLE["facts"])
NOW = datetime.fromisoformat(TABLE["now"])


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_decision_table(case: dict[str, Any]) -> None:
    consents = [dict(merge_patch(BASE, p), id=f"c{i}") for i, p in enumerate(case["patches"])]
    decision = decide_consent(FACTS, consents, NOW)
    assert [decision.decision, decision.reason_id, decision.consent_id] == case["expect"]
    assert decision.reason("sv") and decision.reason("en") != decision.reason_id


def test_decision_needs_aware_time() -> None:
    with pytest.raises(ValueError):
        decide_consent(FACTS, [BASE], datetime(2026, 11, 23, 12))


def test_consent_inside_example_bundle_permits_after_inlining() -> None:
    sub = Submission(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    raw = sub.consents[0]
    # As it stands the Consent points at Bundle entries: nothing identifies patient or recipient.
    assert decide_consent(FACTS, [raw], NOW).reason_id == "LISN_CONSENT_OTHER_PATIENT"
    inlined = inline_references(raw, sub.resolve)
    assert decide_consent(FACTS, [inlined], NOW).decision == "permit"
    assert "identifier" not in raw["patient"]  # the original is untouched


def test_inlining_names_the_care_unit_of_a_bundle_consent() -> None:
    sub = Submission(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    inlined = inline_references(sub.consents[0], sub.resolve)
    assert inlined["organization"][0]["identifier"] == {"system": "urn:oid:1.2.752.29.4.19",
                                                        "value": "SE2321000016-15CQ"}
