"""The stores the flow tests run on: in memory, SQLite and PostgreSQL (one fixture, three params).

``tests/conftest.py`` parametrises the ``store`` fixture over :data:`KINDS`; the SQL engines are
migrated once per session (PostgreSQL in a schema of its own) and emptied before each test.
:func:`register` puts clients and recipients in any of them, as the administration commands do.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adapter.flows.ports import ClientInfo, RecipientRecord, Store
from adapter.store.clients import add_client
from adapter.store.models import Base
from adapter.store.recipients import add_recipient
from adapter.store.sql import SqlStore
from adapter.testing import MemoryStore

PEPPER = b"test-pepper"


def empty(engine: sa.Engine) -> None:
    """Every table emptied, the audit chain back at its start."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "audit_head":
                conn.execute(table.delete())
        conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})


def register(store: Store, *, recipients: list[RecipientRecord] = (),  # type: ignore[assignment]
             clients: list[dict[str, Any]] = ()) -> dict[str, tuple[ClientInfo, str]]:  # type: ignore[assignment]
    """Recipients and clients (``{"name", "role", "care_units", "kommunkod"}``); returns name -> (client, token)."""
    out: dict[str, tuple[ClientInfo, str]] = {}
    if isinstance(store, MemoryStore):
        for r in recipients:
            store.add_recipient(r)
        for c in clients:
            out[c["name"]] = store.add_client(c["name"], c["role"], care_units=tuple(c.get("care_units", ())),
                                              kommunkod=c.get("kommunkod"))
        return out
    assert isinstance(store, SqlStore)
    with store.session() as session:
        for r in recipients:
            add_recipient(session, kommunkod=r.kommunkod, name=r.name, delivery_mode=r.mode, endpoint_url=r.endpoint,
                          ca_bundle_path=r.ca_bundle, max_attempts=r.max_attempts)
        for c in clients:
            out[c["name"]] = add_client(session, name=c["name"], role=c["role"], pepper=PEPPER,
                                        care_units=tuple(c.get("care_units", ())), kommunkod=c.get("kommunkod"))
    return out
