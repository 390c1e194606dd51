"""Fixtures for the delivery tests: the relay's store over each store (memory, SQLite, PostgreSQL),
a fixed clock, and a SQLite file for the command-line tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import RECIPIENTS, START
from sqlalchemy.engine import Engine

from adapter.flows.ports import Store
from adapter.flows.relay import RelayStore, static_recipients
from adapter.store import migrate
from adapter.store.db import make_engine
from adapter.store.sql import SqlStore
from adapter.testing import FixedClock


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file of its own (the command-line tests name it in ADAPTER_DATABASE_URL)."""
    eng = make_engine(f"sqlite:///{tmp_path / 'adapter.db'}")
    migrate.upgrade(eng)
    yield eng
    # Leak check: every store call must have given its connection back.
    assert eng.pool.checkedout() == 0, "a connection was left checked out"  # type: ignore[attr-defined]
    eng.dispose()


@pytest.fixture()
def sql(engine: Engine, tmp_path: Path) -> SqlStore:
    from adapter.store.audit import AuditSeal

    return SqlStore(engine, seal=AuditSeal(key=b"delivery-tests-audit-key-32-bytes",
                                           checkpoints=tmp_path / "audit-checkpoints.jsonl"))


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture()
def relay_store(store: Store) -> RelayStore:
    return RelayStore(store, recipients=static_recipients(RECIPIENTS))
