"""answers.date_key at the ends of the calendar: a zone offset may carry an instant into year 0 or
10000, past what ``datetime`` holds; the key must still come out (no OverflowError) and sort right."""

from __future__ import annotations

import json

import pytest

from adapter import errors
from adapter.fhir.registry import default_registry
from adapter.validation import validate_bytes
from adapter.validation.answers import date_key


@pytest.mark.parametrize(("text", "key"), [
    ("0001-01-01T00:00:00+01:00", (0, 12, 31, 23, 0, 0, 0)),
    ("0001-01-01T00:30:00+00:45", (0, 12, 31, 23, 45, 0, 0)),
    ("9999-12-31T23:30:00-01:00", (10000, 1, 1, 0, 30, 0, 0)),
    ("2024-02-29T00:00:00+01:00", (2024, 2, 28, 23, 0, 0, 0)),
    ("2026-07-01", (2026, 7, 1, 0, 0, 0, 0)),
    ("0001", (1, 1, 1, 0, 0, 0, 0)),
])
def test_keys_at_the_ends_of_the_calendar(text: str, key: tuple[int, ...]) -> None:
    assert date_key(text) == key


@pytest.mark.parametrize("text", ["0000", "0000-01-01", "2023-02-29", "2026-13-01", "2026-07-01T25:00:00Z", "x"])
def test_no_key_for_what_is_no_date(text: str) -> None:
    assert date_key(text) is None


def test_the_keys_sort_as_the_instants() -> None:
    texts = ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00",
             "9999-12-31T23:00:00Z", "9999-12-31T23:30:00-01:00"]
    assert sorted(texts, key=date_key) == texts  # type: ignore[arg-type, return-value]


def test_a_response_with_such_a_date_gets_an_outcome_not_a_crash() -> None:
    questionnaire = {
        "resourceType": "Questionnaire", "url": "http://example.org/Questionnaire/edge", "status": "active",
        "item": [{"linkId": "d", "type": "dateTime", "text": "När?"},
                 {"linkId": "e", "type": "string", "text": "Varför?",
                  "enableWhen": [{"question": "d", "operator": ">", "answerDateTime": "0001-01-01T00:00:00+01:00"}]}],
    }
    registry = default_registry()
    registry.add(questionnaire)
    response = {"resourceType": "QuestionnaireResponse", "questionnaire": questionnaire["url"], "status": "completed",
                "item": [{"linkId": "d", "answer": [{"valueDateTime": "0001-01-01T00:00:00+01:00"}]},
                         {"linkId": "e", "answer": [{"valueString": "test"}]}]}
    oo = validate_bytes(json.dumps(response).encode(), registry)
    assert oo["resourceType"] == "OperationOutcome"
    # 0000-12-31T23:00Z is not after itself: "e" is disabled, so its answer is reported
    found = [(i["details"]["coding"][0]["code"], i.get("expression")) for i in oo["issue"]]
    assert found == [("QUESTIONNAIRE_QR_ITEM_NOTENABLED2", ["QuestionnaireResponse.item[1]"])]
    assert errors.has_errors(oo)
