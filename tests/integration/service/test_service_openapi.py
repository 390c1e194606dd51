"""GET /openapi.json: served where its own text says, and valid OpenAPI 3.0 for a validator library.

(That every route of the app is described and vice versa, and the fuzzing, are in tests/abuse.)
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable
from service_helpers import Api

from adapter.api.openapi import description


def test_the_document_is_served_where_it_says(api: Api) -> None:
    doc = description()
    (path,) = re.findall(r"served by the service at `([^`]+)`", doc["info"]["description"])
    r = api.get(path, who=None)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.json == doc


def test_the_document_is_valid_openapi_3_0() -> None:
    doc = description()
    assert doc["openapi"].startswith("3.0.")
    validate(doc)  # raises on any error


@pytest.mark.parametrize("break_it", [
    lambda d: d.pop("info"),
    lambda d: d["paths"].__setitem__("no-leading-slash", {}),
    lambda d: next(iter(d["paths"].values())).__setitem__("get", {"responses": "none"}),
    lambda d: d["components"]["schemas"].__setitem__("X", {"$ref": "#/components/schemas/Nowhere"}),
], ids=["no-info", "bad-path", "bad-responses", "dangling-ref"])
def test_the_validator_refuses_a_broken_document(break_it: Any) -> None:
    doc = copy.deepcopy(description())
    doc.setdefault("components", {}).setdefault("schemas", {})
    break_it(doc)
    with pytest.raises((OpenAPIValidationError, Unresolvable)):
        validate(doc)
