"""The PostgreSQL tests' skip reason says what is missing and how to get it (issue 16)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import _postgres_reason


def test_missing_database_is_named_with_the_command_that_creates_it() -> None:
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:5432/adapter_test"
    gone = sa.exc.OperationalError("connect", {}, Exception('FATAL:  database "adapter_test" does not exist'))
    reason = _postgres_reason(url, gone)
    assert "database 'adapter_test' does not exist" in reason
    assert "CREATE DATABASE adapter_test" in reason and "psql -h 127.0.0.1 -p 5432 -U postgres" in reason
    assert "secret" not in reason


def test_an_unreachable_server_is_said_so() -> None:
    refused = sa.exc.OperationalError("connect", {}, Exception("connection refused"))
    reason = _postgres_reason("postgresql+psycopg://postgres@127.0.0.1:1/x", refused)
    assert reason.startswith("no PostgreSQL server reachable") and "connection refused" in reason


@pytest.mark.postgres
def test_a_database_that_does_not_exist_on_the_running_server(pg_url: str) -> None:
    """Against the real server: the reason names the database, not "no server"."""
    from tests.conftest import _postgres

    missing = sa.engine.make_url(pg_url).set(database="adapter_test_no_such_db_16")
    import os

    old = os.environ.get("ADAPTER_TEST_POSTGRES_URL")
    os.environ["ADAPTER_TEST_POSTGRES_URL"] = missing.render_as_string(hide_password=False)
    required = os.environ.pop("ADAPTER_REQUIRE_POSTGRES", None)
    try:
        url, reason = _postgres()
    finally:
        os.environ["ADAPTER_TEST_POSTGRES_URL"] = old or pg_url
        if required is not None:
            os.environ["ADAPTER_REQUIRE_POSTGRES"] = required
    assert url is None and "adapter_test_no_such_db_16" in reason and "CREATE DATABASE" in reason
