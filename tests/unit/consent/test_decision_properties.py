"""Properties of the consent decision over generated consents (hypothesis)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_decision import BASE, FACTS, NOW

from adapter.consent import decide_consent


@st.composite
def consents(draw: st.DrawFn) -> dict[str, Any]:
    c = copy.deepcopy(BASE)
    c["id"] = draw(st.uuids()).hex
    c["status"] = draw(st.sampled_from(["active", "inactive", "draft", "rejected"]))
    c["patient"]["identifier"]["value"] = draw(st.sampled_from(["191212121212", "201212121212"]))
    p = c["provision"]
    p["type"] = draw(st.sampled_from(["permit", "deny"]))
    p["actor"][0]["reference"]["identifier"]["value"] = draw(st.sampled_from(["0180", "1480"]))
    start = draw(st.integers(-400, 400))
    p["period"] = {"start": (NOW + timedelta(days=start)).date().isoformat(),
                   "end": (NOW + timedelta(days=start + draw(st.integers(0, 800)))).date().isoformat()}
    if draw(st.booleans()):
        p["provision"] = [{"type": "deny", "actor": copy.deepcopy(p["actor"])}]
    return c


@settings(max_examples=200, deadline=None)
@given(st.lists(consents(), max_size=5), st.randoms())
def test_order_of_consents_does_not_change_the_decision(items: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert decide_consent(FACTS, items, NOW).decision == decide_consent(FACTS, shuffled, NOW).decision


@settings(max_examples=200, deadline=None)
@given(st.lists(consents(), max_size=5), consents())
def test_inactive_or_foreign_consent_never_changes_the_decision(items: list[dict[str, Any]],
                                                                extra: dict[str, Any]) -> None:
    extra["status"] = "inactive"
    before = decide_consent(FACTS, items, NOW)
    assert decide_consent(FACTS, [*items, extra], NOW).decision == before.decision
    extra["status"] = "active"
    extra["patient"]["identifier"]["value"] = "197010632391"
    assert decide_consent(FACTS, [*items, extra], NOW).decision == before.decision


@settings(max_examples=200, deadline=None)
@given(st.lists(consents(), min_size=1, max_size=5))
def test_permit_only_rests_on_an_active_consent_of_this_patient_and_recipient(items: list[dict[str, Any]]) -> None:
    decision = decide_consent(FACTS, items, datetime(2026, 11, 23, 11, 0, tzinfo=UTC))
    if decision.permitted:
        chosen = next(c for c in items if c["id"] == decision.consent_id)
        assert chosen["status"] == "active" and chosen["provision"]["type"] == "permit"
        assert chosen["patient"]["identifier"]["value"] == FACTS.patient_value
        assert chosen["provision"]["actor"][0]["reference"]["identifier"]["value"] == FACTS.kommunkod
