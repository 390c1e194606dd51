"""PostgreSQL: several workers claim with FOR UPDATE SKIP LOCKED and never claim a row twice."""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import START, enqueue
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url

from adapter.delivery import Claimed
from adapter.flows.relay import RelayStore
from adapter.signing import init_dev_keys
from adapter.store import migrate
from adapter.store.db import make_engine
from adapter.store.models import OutboxRow
from adapter.store.sql import SqlStore

pytestmark = pytest.mark.postgres

ACCEPTANCE = Path(__file__).resolve().parents[2] / "acceptance"


@pytest.fixture()
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A database of its own (created and dropped here), so parallel test runs never meet."""
    name = f"lisn_delivery_{secrets.token_hex(4)}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_concurrent_claims_are_disjoint(pg_engine: Engine) -> None:
    sql = SqlStore(pg_engine)
    for i in range(200):
        enqueue(sql, f"c{i:03d}", at=START)
    store = RelayStore(sql, recipients=lambda k: None)
    claimed: dict[str, list[Claimed]] = {f"w{i}": [] for i in range(4)}
    barrier = threading.Barrier(4)

    def work(owner: str) -> None:
        barrier.wait()
        while batch := store.claim(owner=owner, now=START, lease_seconds=600, limit=7):
            claimed[owner].extend(batch)
    threads = [threading.Thread(target=work, args=(o,)) for o in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [c.id for batch in claimed.values() for c in batch]
    assert len(ids) == 200 and len(set(ids)) == 200          # every row claimed, none twice
    assert sum(1 for batch in claimed.values() if batch) >= 2  # the workers really ran side by side


@pytest.mark.slow  # two worker processes and a receiver: about 10 s
def test_two_worker_processes_deliver_each_message_once(pg_engine: Engine, tmp_path: Path) -> None:
    sys.path.insert(0, str(ACCEPTANCE))
    try:
        from acceptance_helpers import (
            all_settled,
            enqueue_signed,
            receiver,
            start_worker,
            states,
            stop,
            wait_until,
            worker_env,
            write_recipients,
        )
    finally:
        sys.path.remove(str(ACCEPTANCE))
    keys = init_dev_keys(tmp_path / "keys")
    enqueue_signed(pg_engine, keys, [f"pg-{i:03d}" for i in range(60)], "0180")
    url = pg_engine.url.render_as_string(hide_password=False)
    with receiver(tmp_path, keys.ca, delay_ms=30) as recv:  # slow enough that both workers get work
        recipients = write_recipients(tmp_path / "r.json", {"0180": recv.url})
        workers = [start_worker(worker_env(url), recipients, batch=3) for _ in range(2)]
        try:
            assert wait_until(all_settled(pg_engine), timeout=60)
        finally:
            for w in workers:
                assert stop(w) == 0
        assert recv.requests() == 60          # one request per message: nobody sent one twice
        assert len(recv.stored()) == 60
    assert states(pg_engine) == {"delivered": 60}
    with SqlStore(pg_engine).session() as session:
        owners = set(session.scalars(select(OutboxRow.lease_owner)))
    assert len(owners) == 2  # both workers took part
