"""Fixtures for the delivery tests: a migrated SQLite database, a store on it, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import RECIPIENTS, FixedClock
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from adapter.store import migrate, outbox
from adapter.store.db import make_engine, session_factory


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'adapter.db'}")
    migrate.upgrade(eng)
    yield eng
    # Leak check: every store call must have given its connection back.
    assert eng.pool.checkedout() == 0, "a connection was left checked out"  # type: ignore[attr-defined]
    eng.dispose()


@pytest.fixture()
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture()
def store(engine: Engine) -> outbox.SqlOutboxStore:
    return outbox.SqlOutboxStore(engine, recipients=outbox.static_recipients(RECIPIENTS))
