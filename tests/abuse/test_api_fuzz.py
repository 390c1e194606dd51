"""Schemathesis against the OpenAPI description the service serves, in-process (WSGI).

Every generated request, valid or not, authenticated as a registered sender: no 5xx; a 4xx
always carries an OperationOutcome. The description itself must list exactly the app's routes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from adapter.api.openapi import description

pytestmark = pytest.mark.slow  # schemathesis over every route: about 35 s

EXAMPLES = 25
# Operations by label ("POST /fhir/$process-message"), read from the description file itself.
OPERATIONS = sorted(f"{m.upper()} {p}" for p, ops in description()["paths"].items() for m in ops)
# Negative data needs something to break: operations without parameters or body have none.
HAS_INPUT = {f"{m.upper()} {p}" for p, ops in description()["paths"].items() for m, op in ops.items()
             if op.get("parameters") or op.get("requestBody")}
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + \
        [(label, GenerationMode.NEGATIVE) for label in OPERATIONS if label in HAS_INPUT]


def _check(response: Any, label: str) -> None:
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        ctype = {k.lower(): v for k, v in response.headers.items()}.get("content-type")
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert str(ctype).startswith("application/fhir+json"), f"{label}: {ctype}"
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", body
        assert any(i["severity"] in ("error", "fatal") for i in body["issue"])


# schemathesis' own pytest plugin (from_fixture) does not run under pytest 9 (it reads
# Function._nodeid); the operation strategies with hypothesis directly do the same work.
@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{lb} {m.value}" for lb, m in CASES])
def test_no_server_error_and_outcomes_for_client_errors(api_schema: Any, instance: Any, label: str,
                                                        mode: GenerationMode) -> None:
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]
    # Municipal pull is for municipalities; everything else is called as the registered sender.
    token = instance.municipality_token if path.startswith("/municipal") else instance.token
    auth = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        _check(case.call(headers={**(case.headers or {}), **auth}), f"{label} ({mode.value})")

    fuzz()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_description_lists_exactly_the_routes(instance: Any) -> None:
    served = {(_openapi_path(r.rule), m.lower()) for r in instance.app.url_map.iter_rules()
              for m in r.methods - {"HEAD", "OPTIONS"} if r.endpoint != "static"}
    described = {(p, m) for p, ops in description()["paths"].items() for m in ops}
    assert served - described == set(), "routes missing from adapter/api/openapi.yaml"
    assert described - served == set(), "described in openapi.yaml but not served"


def test_served_description_is_the_file(instance: Any) -> None:
    with instance.app.test_client() as client:
        resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.get_json() == description()


@pytest.mark.parametrize("path", ["/fhir/metadata", "/fhir/Questionnaire"])
def test_public_reads_answer(instance: Any, path: str) -> None:
    with instance.app.test_client() as client:
        assert client.get(path).status_code == 200
