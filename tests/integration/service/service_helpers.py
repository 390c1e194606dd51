"""Helpers shared by the service tests (a module of its own: ``conftest`` names are ambiguous
when several folders have one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from adapter.store.models import Base
from adapter.testing import FixedClock

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
LIMIT = 256 * 1024  # a small body limit keeps the oversize tests fast
FHIR = "application/fhir+json"


def empty_values(doc: Any, where: str = "$") -> list[str]:
    """Where a JSON document has an empty array, an empty object, an empty string or a null.

    FHIR JSON allows none of them (https://hl7.org/fhir/R4/json.html): an element without a value
    is left out.
    """
    if doc is None or doc == "" or doc == [] or doc == {}:
        return [where]
    if isinstance(doc, dict):
        return [w for k, v in doc.items() for w in empty_values(v, f"{where}.{k}")]
    if isinstance(doc, list):
        return [w for i, v in enumerate(doc) for w in empty_values(v, f"{where}[{i}]")]
    return []


class FhirJsonCheckingClient(FlaskClient):
    """The test client, checking every JSON answer of the API for empty values (``empty_values``).

    Every test of the service goes through it, so every endpoint a test calls is checked. The
    OpenAPI document is not FHIR (an empty ``security`` list there means "no authentication").
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        if (response.mimetype in ("application/json", "application/fhir+json")
                and not response.request.path.endswith("openapi.json")):
            found = empty_values(json.loads(response.get_data()))
            assert not found, f"{response.request.method} {response.request.path}: empty in the answer: {found}"
        return response


@dataclass
class Api:
    """The app, its test client and the tokens of the registered clients."""

    app: Flask
    client: FlaskClient
    tokens: dict[str, str]
    clock: FixedClock
    engine: sa.Engine

    def headers(self, who: str | None, content_type: str | None = FHIR, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if who:
            out["Authorization"] = f"Bearer {self.tokens[who]}"
        if content_type:
            out["Content-Type"] = content_type
        return out

    def post(self, path: str, body: bytes | dict[str, Any], who: str | None = "ehr", *,
             content_type: str | None = FHIR, **extra: str) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        return self.client.post(path, data=data, headers=self.headers(who, content_type, **extra))

    def get(self, path: str, who: str | None = "ehr") -> Any:
        return self.client.get(path, headers=self.headers(who, None))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in Base.metadata.sorted_tables}

    def audit_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
        return [dict(r) for r in rows]

    def submit_example(self, bundle: dict[str, Any] | None = None, who: str = "ehr") -> Any:
        return self.post("/fhir/$process-message", bundle if bundle is not None else example())


def example(*, without_consent: bool = False) -> dict[str, Any]:
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    if without_consent:
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Consent"]
    return bundle


def data(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


