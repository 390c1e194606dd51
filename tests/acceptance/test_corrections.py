"""A replacement and a withdrawal reach every municipality that received the original."""

from __future__ import annotations

from pathlib import Path

import pytest
from acceptance_helpers import (
    all_settled,
    enqueue_signed,
    messages,
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

pytestmark = pytest.mark.slow  # worker and two receiver processes

ORIGINAL = "0a0b0c0d-0000-4000-8000-000000000001"
REPLACEMENT = "0a0b0c0d-0000-4000-8000-000000000002"


def test_follow_ups_reach_every_receiver_of_the_original(tmp_path: Path, keys: DevKeyPaths, engine: Engine,
                                                         db_url: str) -> None:
    for kommunkod in ("0180", "1480"):
        enqueue_signed(engine, keys, [ORIGINAL], kommunkod)
    with receiver(tmp_path, keys.ca, name="stockholm") as sthlm, \
            receiver(tmp_path, keys.ca, name="goteborg") as gbg:
        recipients = write_recipients(tmp_path / "r.json", {"0180": sthlm.url, "1480": gbg.url})
        worker = start_worker(worker_env(db_url), recipients)
        try:
            assert wait_until(all_settled(engine), timeout=20)
            targets = sorted({m.kommunkod for m in messages(engine, certificate_id=ORIGINAL, states=("delivered",))})
            assert targets == ["0180", "1480"]
            for kommunkod in targets:
                enqueue_signed(engine, keys, [REPLACEMENT], kommunkod, kind="replacement", replaces=ORIGINAL)
                enqueue_signed(engine, keys, [ORIGINAL], kommunkod, kind="withdrawal")
                enqueue_signed(engine, keys, [ORIGINAL], kommunkod, kind="withdrawal")  # repeated: a no-op
            assert wait_until(all_settled(engine), timeout=20)
        finally:
            assert stop(worker) == 0
        for recv in (sthlm, gbg):
            kinds = sorted((d["kind"], d["certificateId"]) for d in recv.summary()["documents"])
            assert kinds == [("certificate", ORIGINAL), ("replacement", REPLACEMENT), ("withdrawal", ORIGINAL)]
            assert set(recv.stored().values()) == {1}
    assert states(engine) == {"delivered": 6}
