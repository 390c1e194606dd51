"""The service on a real database: SQLite (a file) and PostgreSQL (a schema of its own per run).

Every test in this folder runs once per backend (``backend`` is parametrised); the schema
is migrated once per session and emptied after each test. Clients and recipients come from
``data/clients.json``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from adapter.api import create_app
from adapter.settings import DatabaseSettings, Limits, Settings
from adapter.store import migrate, outbox  # noqa: F401 - outbox tables join Base.metadata
from adapter.store.db import Base, make_engine
from adapter.store.clients import add_client
from adapter.store.recipients import add_recipient
from adapter.testing import FixedClock

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
LIMIT = 256 * 1024  # a small body limit keeps the oversize tests fast
FHIR = "application/fhir+json"


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'adapter.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("pg_url")
    schema = f"t_service_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    migrate.upgrade(eng)
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _empty(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "audit_head":
                conn.execute(table.delete())
        conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})


@dataclass
class Api:
    """The app, its test client and the tokens of the registered clients."""

    app: Flask
    client: FlaskClient
    tokens: dict[str, str]
    clock: FixedClock
    engine: sa.Engine
    calls: list[Any] = field(default_factory=list)

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


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The registry and stages (with the signing key, slow to load) built once per session."""
    from adapter.api.stages import default_stages
    from adapter.fhir.registry import default_registry

    tmp = tmp_path_factory.mktemp("service-var")
    registry = default_registry()
    settings = Settings(limits=Limits(max_body_bytes=LIMIT), database=DatabaseSettings(data_dir=tmp))
    return {"SETTINGS": settings, "REGISTRY": registry, "STAGES": default_stages(settings, registry)}


@pytest.fixture
def api(engine: sa.Engine, shared: dict[str, Any]) -> Iterator[Api]:
    _empty(engine)
    clock = FixedClock()
    app = create_app({"TESTING": True, **shared, "ENGINE": engine, "MIGRATE": False, "CLOCK": clock})
    svc = app.extensions["lisn"]
    tokens: dict[str, str] = {}
    setup = data("clients.json")
    with svc.transaction() as session:
        for c in setup["clients"]:
            _, tokens[c["name"]] = add_client(session, name=c["name"], role=c["role"], pepper=svc.pepper,
                                              care_units=tuple(c.get("care_units", ())),
                                              kommunkod=c.get("kommunkod"))
        for r in setup["recipients"]:
            add_recipient(session, **r)
    yield Api(app, app.test_client(), tokens, clock, engine)
