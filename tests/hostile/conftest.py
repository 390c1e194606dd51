"""An app on a fresh SQLite database with a registered sender, for the hostile corpus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import provision
from bench.provision import Instance


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    made = provision.instance(tmp_path_factory.mktemp("hostile"))
    yield made
    made.close()
