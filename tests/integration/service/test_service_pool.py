"""A request whose body is still arriving must not keep its pooled connection from other requests.

Authentication checks a connection out for the request (``SqlStore.request``) before the body is
read; with more worker threads than the pool holds, requests waiting for slow uploads used to hold
every connection, and the others waited out the pool timeout. Here the pool holds one connection:
a request that has authenticated and waits for its body, and a second request that must be served
meanwhile (``SqlStore.idle`` gives the first one's connection back while its body arrives).
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from service_helpers import data, example

from adapter.api import create_app
from adapter.settings import DatabaseSettings, Settings
from adapter.store.clients import add_client
from adapter.store.db import make_engine
from adapter.store.recipients import add_recipient
from adapter.store.sql import SqlStore
from adapter.testing import FixedClock

SMALL_POOL = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 1.5}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def small_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'adapter.db'}", **SMALL_POOL)
        yield engine
        engine.dispose()
        return
    pg_url = request.getfixturevalue("pg_url")
    schema = f"t_pool_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"}, **SMALL_POOL)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class SlowBody(io.BytesIO):
    """A request body that arrives only once ``go`` is set (says when the app starts reading it)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.reading, self.go = threading.Event(), threading.Event()

    def _wait(self) -> None:
        self.reading.set()
        self.go.wait(10)

    def read(self, size: int | None = -1) -> bytes:
        self._wait()
        return super().read(size)

    def readinto(self, buffer: Any) -> int:
        self._wait()
        return super().readinto(buffer)


_SHARED: dict[str, Any] = {}


def _app(engine: sa.Engine, tmp_path: Path) -> tuple[Any, str]:
    from adapter.fhir.registry import default_registry
    from adapter.wiring import default_stages

    if not _SHARED:  # the registry and the stages (the signing key) once for the module
        shared_settings = Settings(database=DatabaseSettings(data_dir=tmp_path / "stages"))
        _SHARED["REGISTRY"] = registry = default_registry()
        _SHARED["STAGES"] = default_stages(shared_settings, registry)
    settings = Settings(database=DatabaseSettings(data_dir=tmp_path))
    app = create_app({"TESTING": True, "SETTINGS": settings, "ENGINE": engine, "MIGRATE": True, **_SHARED,
                      "CLOCK": FixedClock()})
    svc = app.extensions["lisn"]
    setup = data("clients.json")
    with svc.store.session() as session:
        ehr = next(c for c in setup["clients"] if c["name"] == "ehr")
        _, token = add_client(session, name="ehr", role=ehr["role"], pepper=svc.pepper,
                              care_units=tuple(ehr.get("care_units", ())))
        for r in setup["recipients"]:
            add_recipient(session, **r)
    return app, token


def _second_request_while_the_first_uploads(engine: sa.Engine, tmp_path: Path) -> tuple[int, int]:
    app, token = _app(engine, tmp_path)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    first_body = json.dumps(example()).encode()
    slow = SlowBody(first_body)
    answers: dict[str, int] = {}

    def first() -> None:
        response = app.test_client().post("/fhir/$process-message", input_stream=slow,
                                          content_length=len(first_body), headers=headers)
        answers["first"] = response.status_code

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert slow.reading.wait(30), "the first request never started reading its body"
        # The same certificate: the first to commit is accepted, the other answered as its replay.
        answers["second"] = app.test_client().post("/fhir/$process-message", data=first_body,
                                                   headers=headers).status_code
    finally:
        slow.go.set()
        thread.join(30)
    assert engine.pool.checkedout() == 0
    return answers["first"], answers["second"]


def test_a_request_waiting_for_its_body_does_not_hold_the_pool(small_engine: sa.Engine, tmp_path: Path) -> None:
    assert _second_request_while_the_first_uploads(small_engine, tmp_path) == (200, 200)


def test_negative_control_holding_the_connection_starves_the_pool(
        small_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``idle`` (the connection held through the upload) the second request cannot get one
    (and is answered 503, retry later, once the pool's timeout has passed)."""
    monkeypatch.setattr(SqlStore, "idle", lambda self: None)
    assert _second_request_while_the_first_uploads(small_engine, tmp_path) == (200, 503)


def test_below_the_pool_size_the_connection_is_kept(tmp_path: Path) -> None:
    """One checkout per request still: with connections to spare, ``idle`` keeps the request's."""
    engine = make_engine(f"sqlite:///{tmp_path / 'adapter.db'}", pool_size=5)
    try:
        app, token = _app(engine, tmp_path)
        checkouts: list[int] = []
        sa.event.listen(engine, "checkout", lambda *_: checkouts.append(1))
        response = app.test_client().post("/fhir/$process-message", data=json.dumps(example()),
                                          headers={"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/fhir+json"})
        assert response.status_code == 200
        assert len(checkouts) == 1
    finally:
        engine.dispose()
