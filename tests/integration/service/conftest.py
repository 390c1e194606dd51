"""The service on a real database: SQLite (a file) and PostgreSQL (a schema of its own per run).

Every test in this folder runs once per backend (``backend`` is parametrised); the schema
is migrated once per session and emptied after each test. Clients and recipients come from
``data/clients.json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from service_helpers import LIMIT, Api, data

from adapter.api import create_app
from adapter.settings import DatabaseSettings, Limits, Settings
from adapter.store import migrate
from adapter.store.clients import add_client
from adapter.store.db import make_engine
from adapter.store.models import Base
from adapter.store.recipients import add_recipient
from adapter.testing import FixedClock


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


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The registry and stages (with the signing key, slow to load) built once per session."""
    from adapter.fhir.registry import default_registry
    from adapter.wiring import default_stages

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
    with svc.store.session() as session:
        for c in setup["clients"]:
            _, tokens[c["name"]] = add_client(session, name=c["name"], role=c["role"], pepper=svc.pepper,
                                              care_units=tuple(c.get("care_units", ())),
                                              kommunkod=c.get("kommunkod"))
        for r in setup["recipients"]:
            add_recipient(session, **r)
    yield Api(app, app.test_client(), tokens, clock, engine)
    # Leak check: every request's transaction has ended and its connection is back in the pool.
    assert engine.pool.checkedout() == 0, "a connection is still checked out after the test"
