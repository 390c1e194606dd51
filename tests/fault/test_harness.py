"""The fault run's own machinery. It pauses its workers only between transactions (a worker stopped inside one would
hold SQLite's write lock, or a patient's lock, for the whole pause: the CI run of 2026-12-03 failed so), and a
process of the run that does not come up is reported with what it said. The run's own requests and its own
probe outlive a cut of every database connection, and a failure in its chaos thread fails the run that started it
(the clean-clone CI runs of 2026-12-05 failed so: the probe's connection was cut, an admin's revoke met a 503, and a
chaos thread's exception surfaced in the next test)."""

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


@pytest.mark.postgres
def test_postgresql_a_probe_whose_connection_is_cut_asks_again(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chaos cuts every connection to the database, the probe's too: it answers "maybe open"
    (the workers run on a moment and it asks again) instead of failing the run."""
    from bench import servers

    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    with servers.scratch_postgres(admin) as url:
        assert _transaction_open(url) is False
        real = sa.Connection.execute
        name = url.rsplit("/", 1)[1]

        def cut_first(self: sa.Connection, *args: object, **kw: object) -> object:
            servers.terminate_backends(admin, name)  # the cut, as the chaos makes it, mid-probe
            return real(self, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(sa.Connection, "execute", cut_first)
        assert _transaction_open(url) is True
        monkeypatch.setattr(sa.Connection, "execute", real)
        assert _transaction_open(url) is False


def test_a_failure_in_the_chaos_thread_fails_the_run() -> None:
    import threading

    from bench.fault import run

    stop = threading.Event()

    class Broken:
        def kill_one(self, rng: object) -> None:
            raise OSError("no such process")

    plan = run.Plan(deliver=0, revoke=0, reject=0, kills=1, db_cuts=0, seconds=1)
    import random

    thread = run._Chaos(stop, plan, Broken(), None, random.Random(1), [], None)
    thread.start()
    with pytest.raises(RuntimeError, match="chaos thread failed") as err:
        thread.finish()
    assert isinstance(err.value.__cause__, OSError)
    # Without a failure, finish() only waits for it.
    ok = run._Chaos(stop, run.Plan(deliver=0, revoke=0, reject=0, kills=0, db_cuts=0, seconds=1), Broken(), None,
                    random.Random(1), [], None)
    ok.start()
    ok.finish()
    assert ok.error is None


def test_the_runs_admin_requests_are_retried_on_a_5xx() -> None:
    from types import SimpleNamespace

    from bench.fault.api import _retried

    answers = iter([503, 503, 200, 500])
    calls = []

    def call() -> SimpleNamespace:
        calls.append(1)
        return SimpleNamespace(status_code=next(answers))

    assert _retried(call, pause=0).status_code == 200  # type: ignore[arg-type]
    assert len(calls) == 3
    # A 4xx is an answer, not a failure to retry; and retries end.
    assert _retried(lambda: SimpleNamespace(status_code=404), pause=0).status_code == 404  # type: ignore[arg-type,return-value]
    always = []
    assert _retried(lambda: always.append(1) or SimpleNamespace(status_code=503), tries=3, pause=0).status_code == 503  # type: ignore[arg-type,func-returns-value]
    assert len(always) == 4


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
