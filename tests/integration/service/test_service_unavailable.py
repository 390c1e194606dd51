"""A database that cannot be reached is a 503 the sender may retry, never a 500 (found by the fault run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapter import errors
from adapter.api import create_app


def test_unreachable_database_is_a_retryable_503(tmp_path: Path, shared: dict[str, Any]) -> None:
    gone = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'adapter.db'}")
    app = create_app({"TESTING": True, **shared, "ENGINE": gone, "MIGRATE": False})
    answer = app.test_client().post("/fhir/$process-message", data=b'{"resourceType": "Bundle"}',
                                    headers={"Authorization": "Bearer lisn_x_y",
                                             "Content-Type": "application/fhir+json"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    body = answer.get_json()
    assert [errors.message_id_of(i) for i in body["issue"]] == ["LISN_STORE_UNAVAILABLE"]
    assert body["issue"][0]["code"] == "transient"
    gone.dispose()


def test_a_write_lock_held_too_long_is_a_retryable_503_even_while_authenticating(
        tmp_path: Path, shared: dict[str, Any], monkeypatch: Any) -> None:
    """A stalled worker (the fault run SIGSTOPs them) holding SQLite's write lock past the busy
    timeout: every request then loses the lock race, the first of them while authenticating.
    That is a 503 to retry (it was a 500 when authentication had a transaction outside the retry)."""
    import sqlite3

    from adapter.store import db
    from adapter.store.clients import add_client

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "adapter.db"
    engine = db.make_engine(f"sqlite:///{path}")
    app = create_app({"TESTING": True, **shared, "ENGINE": engine, "MIGRATE": True})
    svc = app.extensions["lisn"]
    with svc.store.session() as session:
        _, token = add_client(session, name="kommun", role="municipality", pepper=svc.pepper, kommunkod="0180")
    search = ("/fhir/Consent?patient=191212121212", {"Authorization": f"Bearer {token}"})
    assert app.test_client().get(search[0], headers=search[1]).status_code == 200

    stalled = sqlite3.connect(path, isolation_level=None)
    stalled.execute("BEGIN IMMEDIATE")  # the stalled worker's transaction
    try:
        answer = app.test_client().get(search[0], headers=search[1])
        assert answer.status_code == 503, answer.data
        assert answer.headers["Retry-After"] == "5"
        assert [errors.message_id_of(i) for i in answer.get_json()["issue"]] == ["LISN_STORE_UNAVAILABLE"]
        # Past authentication, the use case's own transaction loses the same race the same way.
        from adapter.flows import context, reads
        from adapter.flows.ports import ClientInfo

        client = ClientInfo(id="c1", name="kommun", role="municipality", kommunkod="0180")
        try:
            context.run(svc, client, lambda ctx: reads.search_consents("191212121212", ctx))
        except errors.StoreUnavailable:
            pass
        else:
            raise AssertionError("a use case under a held lock must fail as StoreUnavailable")
    finally:
        stalled.rollback()
        stalled.close()
    assert app.test_client().get(search[0], headers=search[1]).status_code == 200  # the lock is gone: served
    engine.dispose()
