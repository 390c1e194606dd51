"""Accept-Language chooses the language of every OperationOutcome text the API answers with
(issue 14 item 4): ``sv`` (the default) or ``en``, one language per text, the message id in
``details.coding`` either way, ``Content-Language`` saying which."""

from __future__ import annotations

from typing import Any

from service_helpers import Api, example

from adapter import errors, messages


def _without_activity_limitation() -> dict[str, Any]:
    bundle = example()
    qr = bundle["entry"][1]["resource"]
    qr["item"] = [i for i in qr["item"] if i["linkId"] != "aktivitetsbegransning"]
    return bundle


def _issue(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    found = [i for i in body["issue"] if errors.message_id_of(i) == message_id]
    assert found, body
    return found[0]


def test_validate_answers_in_the_language_asked_for(api: Api) -> None:
    sv = api.post("/fhir/Bundle/$validate", _without_activity_limitation())
    en = api.post("/fhir/Bundle/$validate", _without_activity_limitation(), **{"Accept-Language": "en-GB, sv;q=0.5"})
    assert sv.headers["Content-Language"] == "sv" and en.headers["Content-Language"] == "en"
    sv_issue, en_issue = _issue(sv.json, "QUESTIONNAIRE_QR_ITEM_MISSING"), _issue(en.json, "QUESTIONNAIRE_QR_ITEM_MISSING")
    # Swedish: the question as the physician saw it, what to do; no English glued on
    assert sv_issue["details"]["text"] == ("Den obligatoriska frågan 'Aktivitetsbegränsning' "
                                           "är inte besvarad; fyll i den")
    assert en_issue["details"]["text"] == "No answer found for the required item 'aktivitetsbegransning'"
    for body in (sv.json, en.json):
        for iss in body["issue"]:
            assert iss["details"]["coding"] == [{"system": messages.SYSTEM, "code": errors.message_id_of(iss)}]


def test_errors_outside_validation_follow_accept_language_too(api: Api) -> None:
    for path, who, status, mid in [("/fhir/NoSuchThing", "ehr", 404, "LISN_ROUTE_NOT_FOUND"),
                                   ("/fhir/Bundle/$validate", None, 401, None)]:
        sv = api.client.post(path, data=b"{}", headers=api.headers(who))
        en = api.client.post(path, data=b"{}", headers=api.headers(who, **{"Accept-Language": "en"}))
        assert sv.status_code == en.status_code == status
        a, b = sv.json["issue"][0], en.json["issue"][0]
        assert errors.message_id_of(a) == errors.message_id_of(b) and (mid is None or errors.message_id_of(a) == mid)
        cat = messages.catalogue()[errors.message_id_of(a)]
        assert a["details"]["text"].startswith(cat["sv"].split("{")[0])
        assert b["details"]["text"].startswith(cat["en"].split("{")[0])
        assert a["details"]["text"] != b["details"]["text"]


def test_malformed_input_is_refused_in_english_when_asked(api: Api) -> None:
    r = api.post("/fhir/Bundle/$validate", b'{"resourceType": "Bundle",', **{"Accept-Language": "en"})
    assert r.status_code == 400
    [iss] = r.json["issue"]
    assert iss["details"]["coding"][0]["code"] == "LISN_INPUT_NOT_JSON"
    assert iss["details"]["text"].startswith("Invalid JSON") and "Ogiltig" not in iss["details"]["text"]


def test_the_language_of_one_request_does_not_reach_the_next(api: Api) -> None:
    api.post("/fhir/Bundle/$validate", _without_activity_limitation(), **{"Accept-Language": "en"})
    r = api.post("/fhir/Bundle/$validate", _without_activity_limitation())
    assert r.headers["Content-Language"] == "sv"
    assert _issue(r.json, "QUESTIONNAIRE_QR_ITEM_MISSING")["details"]["text"].startswith("Den obligatoriska frågan")


def test_content_language_is_said_only_for_outcomes(api: Api) -> None:
    """A certificate's own content is Swedish whatever the client asks for: only an
    OperationOutcome (whose texts follow Accept-Language) says Content-Language."""
    r = api.client.get("/fhir/metadata", headers={"Accept-Language": "en"})
    assert r.status_code == 200 and "Content-Language" not in r.headers
    assert "Accept-Language" in r.headers.get("Vary", "")
