"""Push over real HTTP: the worker process delivers signed XML to the reference receiver process."""

from __future__ import annotations

from pathlib import Path

import pytest
from acceptance_helpers import (
    all_settled,
    attempts,
    enqueue_signed,
    free_port,
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

from adapter.signing import DevKeyPaths, verify_document

pytestmark = pytest.mark.slow  # worker and receiver processes, retries over real HTTP


def test_signed_xml_arrives_verified(tmp_path: Path, keys: DevKeyPaths, engine: Engine, db_url: str) -> None:
    [key] = enqueue_signed(engine, keys, ["9c1f6c1e-0000-4000-8000-000000000001"], "0180")
    with receiver(tmp_path, keys.ca) as recv:
        recipients = write_recipients(tmp_path / "r.json", {"0180": recv.url})
        worker = start_worker(worker_env(db_url), recipients)
        try:
            assert wait_until(all_settled(engine), timeout=20)
        finally:
            assert stop(worker) == 0  # SIGTERM: a graceful exit
        assert states(engine) == {"delivered": 1}
        [doc] = recv.summary()["documents"]
        assert doc["idempotencyKey"] == key and "NOT FOR PRODUCTION" in doc["signer"]
        held, content = recv.get(f"/documents/{key}"), recv.get(f"/documents/{key}/content")
    verification = verify_document(held, trust=[keys.ca.read_bytes()])
    assert verification.ok and verification.signed_content == content  # it keeps what it verified


def test_receiver_down_then_up_is_delivered_once(tmp_path: Path, keys: DevKeyPaths, engine: Engine,
                                                 db_url: str) -> None:
    [key] = enqueue_signed(engine, keys, ["9c1f6c1e-0000-4000-8000-000000000002"], "0180")
    port = free_port()
    recipients = write_recipients(tmp_path / "r.json", {"0180": f"http://127.0.0.1:{port}/inbox"})
    worker = start_worker(worker_env(db_url), recipients)
    try:
        def failed_twice() -> bool:
            return len(attempts(engine, key)) >= 2
        assert wait_until(failed_twice, timeout=20)
        with receiver(tmp_path, keys.ca, port=port) as recv:
            assert wait_until(all_settled(engine), timeout=20)
            assert recv.stored() == {key: 1} and recv.requests() == 1
    finally:
        stop(worker)
    tried = attempts(engine, key)
    assert [a.outcome for a in tried][-1] == "accepted"
    assert all((a.reason or "").startswith("transport error") for a in tried[:-1])


def test_a_wrong_signature_is_dead_lettered_with_the_reason(tmp_path: Path, keys: DevKeyPaths, engine: Engine,
                                                            db_url: str, tmp_path_factory: object) -> None:
    from adapter.signing import init_dev_keys

    other = init_dev_keys(tmp_path / "other-ca")  # the receiver trusts a different CA
    [key] = enqueue_signed(engine, keys, ["9c1f6c1e-0000-4000-8000-000000000003"], "0180")
    with receiver(tmp_path, other.ca) as recv:
        worker = start_worker(worker_env(db_url), write_recipients(tmp_path / "r.json", {"0180": recv.url}))
        try:
            assert wait_until(all_settled(engine), timeout=20)
        finally:
            stop(worker)
        assert recv.stored() == {}
    [msg] = messages(engine)
    assert (msg.state, msg.attempts) == ("dead", 1)
    assert (msg.last_error or "").startswith("LISN_SIG_")
