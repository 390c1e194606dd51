"""The service on a real database: SQLite (a file) and PostgreSQL (a schema of its own per run).

Every test in this folder runs once per backend (``engine`` is parametrised); the databases are
those of the flow tests (tests/conftest.py), migrated once per session and emptied before each test. Clients and recipients come from
``data/clients.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from service_helpers import LIMIT, Api, FhirJsonCheckingClient, data
from stores import empty

from adapter.api import create_app
from adapter.settings import DatabaseSettings, Limits, Settings
from adapter.store.clients import add_client
from adapter.store.recipients import add_recipient
from adapter.testing import FixedClock


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    """The session's SQLite file or PostgreSQL schema (``sqlite_engine``/``postgres_engine``, tests/conftest.py)."""
    found: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return found


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
    empty(engine)
    clock = FixedClock()
    app = create_app({"TESTING": True, **shared, "ENGINE": engine, "MIGRATE": False, "CLOCK": clock})
    app.test_client_class = FhirJsonCheckingClient  # no empty arrays, objects, strings or nulls anywhere
    svc = app.extensions["lisn"]
    svc.store.seal.checkpoints.unlink(missing_ok=True)  # the chain was emptied: so are its checkpoints
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
