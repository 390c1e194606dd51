"""GET /openapi.json: the OpenAPI 3 description of the HTTP API (``openapi.yaml`` beside this file).

It sits outside ``/fhir`` because it is not a FHIR resource; the FHIR-native description is the
CapabilityStatement at ``/fhir/metadata``. ``tests/abuse`` fuzzes the service against this file
with schemathesis and checks that every route of the app is described here and vice versa.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response

bp = Blueprint("openapi", __name__)

SOURCE = Path(__file__).with_name("openapi.yaml")


@functools.cache
def description() -> dict[str, Any]:
    """The parsed description (read once per process)."""
    loaded: dict[str, Any] = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    return loaded


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(json.dumps(description(), ensure_ascii=False), content_type="application/json; charset=utf-8")
