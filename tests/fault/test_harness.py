"""The fault run's own machinery. It pauses its workers only between transactions (a worker stopped inside one would
hold SQLite's write lock, or a patient's lock, for the whole pause: the CI run of 2026-12-03 failed so), and a
process of the run that does not come up is reported with what it said."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.fault.run import _transaction_open


def test_sqlite_an_open_write_transaction_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x)")
    assert _transaction_open(f"sqlite:///{path}") is False
    other.execute("BEGIN IMMEDIATE")
    assert _transaction_open(f"sqlite:///{path}") is True
    other.execute("ROLLBACK")
    assert _transaction_open(f"sqlite:///{path}") is False
    other.close()


@pytest.mark.postgres
def test_postgresql_an_idle_transaction_is_seen(pg_url: str) -> None:
    from bench import servers

    # A database of its own: other test processes use the shared one at the same time.
    with servers.scratch_postgres(pg_url.rsplit("/", 1)[0] + "/postgres") as url:
        _check_postgresql(url)


def _check_postgresql(pg_url: str) -> None:
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        conn.commit()
        assert _transaction_open(pg_url) is False
        conn.execute(sa.text("SELECT 1"))  # a transaction begun and left open, as a stopped worker's
        assert _transaction_open(pg_url) is True
        conn.rollback()
        assert _transaction_open(pg_url) is False
    engine.dispose()


def test_a_process_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    import sys

    from bench import servers
    from bench.fault import processes

    log = tmp_path / "fault.log"
    proc = processes._popen([sys.executable, "-c", "import sys; print('receiver: --db x: disk I/O error'); sys.exit(2)"],
                            log)
    port = servers.free_port()
    with pytest.raises(RuntimeError, match=r"(?s)exited with 2.*receiver: --db x: disk I/O error"):
        processes._started(proc, log, lambda: servers.wait_http(f"http://127.0.0.1:{port}/health", proc=proc))
    assert proc.returncode == 2
