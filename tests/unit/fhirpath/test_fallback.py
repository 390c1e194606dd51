"""Outside the compiled subset, fhirpathpy evaluates the expression: counted, logged, same result."""

from __future__ import annotations

import logging

import pytest

from adapter import fhirpath

PATIENT = {"resourceType": "Patient", "id": "p", "text": {"div": "<div>x</div>"}, "name": [{"given": ["A", "B"]}]}


@pytest.mark.parametrize(("expression", "reason"), [
    ("%'vs-name'.exists()", "ExternalConstant with unexpected children"),  # a constant named by a string
    ("name.given.trace()", "function trace() with 0 parameters"),
    ("name.exists(given, family)", "function exists() with 2 parameters"),
    ("text.htmlChecks()", "function htmlChecks() with 0 parameters"),
])
def test_unsupported_falls_back_counted_and_logged(expression: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    before = fhirpath.fallbacks().get(expression, 0)
    with caplog.at_level(logging.DEBUG, logger="adapter.fhirpath"):
        compiled = fhirpath.compile(expression)
    assert compiled.compiled is None and compiled.reason == reason
    assert fhirpath.fallbacks()[expression] == before + 1
    assert any(expression in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_fallback_gives_fhirpathpy_result() -> None:
    assert fhirpath.compile("name.given.trace()")(PATIENT, {}) == ["A", "B"]  # trace() prints nothing
    with pytest.raises(Exception, match="Not implemented: conformsTo"):  # htmlChecks() is FHIR's, given to both
        fhirpath.compile("text.conformsTo('x')")(PATIENT, {})
    with pytest.raises(KeyError):  # fhirpathpy's evaluator expects an identifier there
        fhirpath.compile("%'vs-name'.exists()")(PATIENT, {})


def test_compiled_expression_is_not_a_fallback() -> None:
    compiled = fhirpath.compile("name.given.count() = 2")
    assert compiled.compiled is not None and compiled.reason == ""
    assert compiled(PATIENT, {}) == [True]
    assert "name.given.count() = 2" not in fhirpath.fallbacks()


def test_syntax_error_raises_like_fhirpathpy() -> None:
    with pytest.raises(Exception):  # noqa: B017 - fhirpathpy's lexer raises its own exception types
        fhirpath.compile("name.given = #")


def test_has_value_and_resolve() -> None:
    bundle = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "p1", "birthDate": "2000"}},
        {"resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:1"},
                      "performer": [{"reference": "Patient/p1"}, {"reference": "Patient/none"}]}}]}
    obs = bundle["entry"][1]["resource"]
    variables = {"resource": obs, "rootResource": bundle}
    assert fhirpath.compile("subject.resolve().birthDate")(obs, variables) == ["2000"]
    assert fhirpath.compile("performer.resolve().id")(obs, variables) == ["p1"]
    assert fhirpath.compile("subject.resolve() is Patient")(obs, variables) == [True]
    assert fhirpath.compile("birthDate.hasValue()")(bundle["entry"][0]["resource"], {}) == [True]
    assert fhirpath.compile("subject.hasValue()")(obs, {}) == [False]
