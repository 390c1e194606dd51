"""An app on a fresh SQLite database with a registered sender, for the API fuzzing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import provision
from bench.provision import Instance


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    made = provision.instance(tmp_path_factory.mktemp("abuse"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def api_schema(instance: Instance) -> Any:
    import schemathesis

    return schemathesis.openapi.from_wsgi("/openapi.json", instance.app)
