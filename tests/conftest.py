"""Shared fixtures: paths to data, the outside conformance corpus, the PostgreSQL server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
EXAMPLES = PROFILES / "examples"
MAPPINGS = ROOT / "mappings"


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
    url = os.environ.get("ADAPTER_TEST_POSTGRES_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/adapter_test")
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        if os.environ.get("ADAPTER_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here but not reachable at {url}: {exc}")
        return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL server reachable at ADAPTER_TEST_POSTGRES_URL "
                    "(CI sets ADAPTER_REQUIRE_POSTGRES=1 and never skips)")
    return url
