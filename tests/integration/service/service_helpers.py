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

from adapter.store.models import Base
from adapter.testing import FixedClock

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
LIMIT = 256 * 1024  # a small body limit keeps the oversize tests fast
FHIR = "application/fhir+json"


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


