"""An app on a fresh SQLite database with a registered sender, for the API fuzzing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import provision

AUDIT_TABLES = frozenset({"audit_log", "audit_head"})


@dataclass
class Instance:
    app: Any
    token: str
    database_url: str
    municipality_token: str = ""

    def counts(self) -> dict[str, int]:
        return {t: n for t, n in provision.row_counts(self.database_url).items() if t not in AUDIT_TABLES}


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    provision.check_available()
    data_dir: Path = tmp_path_factory.mktemp("abuse")
    env = provision.environment(data_dir=data_dir)
    token = provision.prepare(env)
    settings = provision.settings_of(env)
    from adapter.api import create_app

    app = create_app({"TESTING": True, "SETTINGS": settings})
    municipality = provision.add_client(env, role="municipality", kommunkod=provision.EXAMPLE_KOMMUNKOD)
    yield Instance(app, token, settings.database.effective_url(), municipality)
    app.extensions["lisn"].engine.dispose()


@pytest.fixture(scope="module")
def api_schema(instance: Instance) -> Any:
    import schemathesis

    return schemathesis.openapi.from_wsgi("/openapi.json", instance.app)
