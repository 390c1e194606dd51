"""Shared fixtures: paths to data, the outside conformance corpus, the PostgreSQL server, and the
``store`` every flow test runs on (in memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
EXAMPLES = PROFILES / "examples"
MAPPINGS = ROOT / "mappings"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against the compiled validator (``python native/build.py``), skip the tests marked
    ``pure_python``: they patch or spy on a module function, and a compiled caller calls the
    compiled function directly, so the patch would test nothing. The pure-Python run (CI's first
    two commands) runs them; ``tests/unit/native/test_compiled_same.py`` holds the two builds'
    outcomes equal."""
    from adapter import native  # (a stale or half build stops the run here, with one line)

    if not native.status()["compiled"]:
        return
    skip = pytest.mark.skip(reason="patches a module function, which compiled callers do not see "
                                   "(run in the pure-Python tiers)")
    for item in items:
        if item.get_closest_marker("pure_python") is not None:
            item.add_marker(skip)


def conformance_dir() -> Path | None:
    """``$ADAPTER_CONFORMANCE_DIR`` or ``../shared/conformance`` beside the checkout."""
    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    candidate = Path(env) if env else ROOT.parent / "shared" / "conformance"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def conformance() -> Path:
    found = conformance_dir()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the shared conformance corpus is missing (set ADAPTER_CONFORMANCE_DIR)")
        pytest.skip("the shared conformance corpus ../shared/conformance is not beside this checkout "
                    "(set ADAPTER_CONFORMANCE_DIR)")
    return found


def postgres_url() -> str | None:
    """A reachable PostgreSQL URL, or None. In CI (ADAPTER_REQUIRE_POSTGRES=1) absence is a failure."""
    url, _ = _postgres()
    return url


def _postgres() -> tuple[str | None, str]:
    """(the URL, "") when usable, else (None, what is missing and how to get it)."""
    url = os.environ.get("ADAPTER_TEST_POSTGRES_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/adapter_test")
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return url, ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"; the reason says which
        reason = _postgres_reason(url, exc)
        if os.environ.get("ADAPTER_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here but {reason}")
        return None, reason


def _postgres_reason(url: str, exc: Exception) -> str:
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    text = str(getattr(exc, "orig", exc))
    shown = parsed.render_as_string(hide_password=True)
    if "does not exist" in text and "database" in text:
        return (f"the server is up but the database {parsed.database!r} does not exist ({shown}): create it with "
                f"psql -h {parsed.host or '127.0.0.1'} -p {parsed.port or 5432} -U {parsed.username or 'postgres'} "
                f"-c 'CREATE DATABASE {parsed.database}'")
    return (f"no PostgreSQL server reachable at {shown} (ADAPTER_TEST_POSTGRES_URL): "
            f"{text.strip().splitlines()[0] if text.strip() else type(exc).__name__}")


@pytest.fixture(scope="session")
def pg_url() -> str:
    url, reason = _postgres()
    if url is None:
        pytest.skip(f"{reason} (CI sets ADAPTER_REQUIRE_POSTGRES=1 and never skips)")
    return url


# -- the stores (see tests/stores.py) ------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from adapter.store import migrate
    from adapter.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'adapter.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine(pg_url: str) -> Iterator[object]:
    """A schema of its own, so that parallel runs on one server never meet."""
    import sqlalchemy as sa

    from adapter.store import migrate
    from adapter.store.db import make_engine

    schema = f"t_store_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


STORE_KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[object]:
    """An empty store: ``MemoryStore``, or the SQL store on SQLite or PostgreSQL."""
    from adapter.store.sql import SqlStore
    from adapter.testing import MemoryStore

    if request.param == "memory":
        yield MemoryStore()
        return
    from stores import empty

    from adapter.store.audit import AuditSeal

    engine = request.getfixturevalue(f"{request.param}_engine")
    empty(engine)
    checkpoints = request.getfixturevalue("tmp_path") / "audit-checkpoints.jsonl"
    yield SqlStore(engine, seal=AuditSeal(key=b"flow-tests-audit-key-32-bytes-long", checkpoints=checkpoints))
    # Leak check: every transaction has ended and given its connection back.
    assert engine.pool.checkedout() == 0, "a connection is still checked out after the test"
