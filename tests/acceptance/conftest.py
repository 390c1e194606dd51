"""Acceptance fixtures: development signing keys and a migrated SQLite database in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from adapter.signing import DevKeyPaths, init_dev_keys
from adapter.store import migrate
from adapter.store.db import make_engine


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeyPaths:
    return init_dev_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'adapter.db'}"


@pytest.fixture()
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()
