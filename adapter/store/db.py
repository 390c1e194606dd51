"""The engine factory and the transaction helper (the tables are in ``models.py``).

SQLite (the embedded default) gets WAL, ``synchronous=FULL`` (a commit is on disk before the
submission is answered, so an answered submission survives a power loss; NORMAL would lose the
last commits), foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction: each request that touches patient data
also appends to the audit chain, so taking the write lock up front avoids the
"read, then fail to upgrade" deadlock of deferred transactions. PostgreSQL runs
through psycopg 3 with the default READ COMMITTED isolation; the audit chain
serialises on its head row (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000

def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that "begin" below is the only BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings this project relies on (see the module docstring)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
