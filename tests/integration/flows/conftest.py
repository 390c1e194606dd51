"""The flows' tests: a service world on each store (``store``: memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from flow_helpers import World, world

from adapter.flows.ports import Store


@pytest.fixture
def w(store: Store) -> World:
    return world(store)
