"""SIGKILL the worker many times mid-delivery while the receiver fails a fifth of its requests,
half of them after it has stored the document. Every certificate must arrive, none twice in
effect. The negative control (a relay that marks before it sends) must fail the same check.
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from acceptance_helpers import (
    Receiver,
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
from sqlalchemy.engine import Engine

from adapter.signing import DevKeyPaths

CERTIFICATES = 40
KILLS = 10


@dataclass
class Run:
    keys: list[str]
    stored: dict[str, int]
    requests: int
    kills: int
    states: dict[str, int]


def _kill_mid_delivery(recv: Receiver, env: dict[str, str], recipients: Path, *, mark_first: bool,
                       rng: random.Random) -> int:
    """Start a worker, wait until it has sent something, kill -9 it at a random moment; repeat."""
    kills = 0
    deadline = time.monotonic() + 45
    while kills < KILLS and time.monotonic() < deadline:
        before = recv.requests()
        worker = start_worker(env, recipients, mark_first=mark_first)
        if not wait_until(lambda before=before: recv.requests() > before, timeout=10, interval=0.01):
            stop(worker, signal.SIGKILL)
            break  # nothing left to send
        time.sleep(rng.uniform(0.0, 0.15))
        stop(worker, signal.SIGKILL)
        kills += 1
    return kills


def _run(tmp_path: Path, keys: DevKeyPaths, engine: Engine, db_url: str, *, mark_first: bool) -> Run:
    certs = [f"7e57c0de-0000-4000-8000-{i:012d}" for i in range(CERTIFICATES)]
    idem = enqueue_signed(engine, keys, certs, "0180")
    rng = random.Random(7)
    with receiver(tmp_path, keys.ca, fail_every=5, delay_ms=15) as recv:
        recipients = write_recipients(tmp_path / "r.json", {"0180": recv.url})
        env = worker_env(db_url)
        kills = _kill_mid_delivery(recv, env, recipients, mark_first=mark_first, rng=rng)
        final = start_worker(env, recipients, mark_first=mark_first)
        try:
            wait_until(all_settled(engine), timeout=40)
        finally:
            stop(final)
        return Run(idem, recv.stored(), recv.requests(), kills, states(engine))


@pytest.mark.slow
def test_sigkill_chaos_delivers_every_certificate_once(tmp_path: Path, keys: DevKeyPaths, engine: Engine,
                                                       db_url: str) -> None:
    run = _run(tmp_path, keys, engine, db_url, mark_first=False)
    print(f"kills={run.kills} requests={run.requests} stored={len(run.stored)}")
    assert run.kills >= 5, "the worker was not killed mid-delivery often enough to mean anything"
    assert run.states == {"delivered": CERTIFICATES}
    assert set(run.stored) == set(run.keys)           # every certificate arrived ...
    assert set(run.stored.values()) == {1}             # ... and was stored exactly once
    assert run.requests > CERTIFICATES                 # retries and duplicates did happen


@pytest.mark.slow
def test_negative_control_marking_before_sending_loses_certificates(tmp_path: Path, keys: DevKeyPaths,
                                                                   engine: Engine, db_url: str) -> None:
    run = _run(tmp_path, keys, engine, db_url, mark_first=True)
    print(f"kills={run.kills} requests={run.requests} stored={len(run.stored)}")
    assert run.states == {"delivered": CERTIFICATES}   # the outbox believes all went out ...
    missing = set(run.keys) - set(run.stored)
    assert missing, "the negative control should lose certificates; the chaos test would then prove nothing"
