"""The whole way, over real HTTP from the worker process to the receiver process:
submit -> consent -> signed XML at the receiver (verified); no consent -> nothing leaves;
consent later -> released; revoke before delivery -> withheld; replacement and withdrawal
follow the original; a withdrawal before its certificate gets a retryable error.

"Nothing leaves" is shown without waiting a while and hoping: ``adapter worker --once`` runs one
complete pass of the relay over the queue and exits, and only then is the receiver asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from acceptance_helpers import (
    CLI,
    DATA,
    Harness,
    Receiver,
    all_settled,
    example,
    free_port,
    harness,
    messages,
    receiver,
    start_worker,
    states,
    stop,
    wait_until,
    without_consent,
    worker_env,
)

from adapter import errors
from adapter.signing import verify_document

pytestmark = pytest.mark.slow  # worker and receiver processes over real HTTP

def one_pass(h: Harness) -> str:
    """One complete relay pass over the queue (the worker process exits when it is done)."""
    done = subprocess.run([sys.executable, "-c", CLI, "worker", "--once", "--verbose"], env=worker_env(db_url(h)),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stderr


def consent() -> dict[str, Any]:
    return dict(json.loads((DATA / "Consent-standalone.json").read_text(encoding="utf-8")))


def task_status(h: Harness) -> list[str]:
    ids = [m.submission_id for m in messages(h.engine)]
    return [h.call("ehr", "GET", f"/fhir/Task/{i}").get_json()["businessStatus"]["coding"][0]["code"]
            for i in dict.fromkeys(ids)]


def setup(tmp_path: Path) -> tuple[Harness, int]:
    port = free_port()
    return harness(tmp_path / "service", {"0180": f"http://127.0.0.1:{port}/inbox"}), port


def db_url(h: Harness) -> str:
    return str(h.engine.url)


def submit(h: Harness, bundle: dict[str, Any]) -> Any:
    return h.call("ehr", "POST", "/fhir/$process-message", bundle)


def verified(recv: Receiver, h: Harness) -> list[str]:
    """The kinds of the stored documents, each checked against the service's signing CA."""
    kinds = []
    for doc in recv.summary()["documents"]:
        assert verify_document(recv.get(f"/documents/{doc['idempotencyKey']}"), trust=[h.trust.read_bytes()]).ok
        kinds.append(doc["kind"])
    return kinds


def test_consent_gates_and_releases_delivery(tmp_path: Path) -> None:
    h, port = setup(tmp_path)
    assert submit(h, without_consent(example("Bundle-lisn-example-submission"))).status_code == 200
    with receiver(tmp_path, h.trust, port=port) as recv:
        assert "claimed=" not in one_pass(h) and recv.requests() == 0  # no consent: nothing to send
        worker = start_worker(worker_env(db_url(h)), recipients=None)
        try:
            assert h.call("ehr", "POST", "/fhir/Consent", consent()).status_code == 201
            assert wait_until(lambda: len(recv.summary()["documents"]) == 1, timeout=20)
        finally:
            assert stop(worker) == 0
        assert verified(recv, h) == ["certificate"]
    assert states(h.engine) == {"delivered": 1}
    assert task_status(h) == ["delivered"]


def test_revoked_before_delivery_is_withheld(tmp_path: Path) -> None:
    h, port = setup(tmp_path)
    assert submit(h, without_consent(example("Bundle-lisn-example-submission"))).status_code == 200
    assert h.call("ehr", "POST", "/fhir/Consent", consent()).status_code == 201
    assert states(h.engine) == {"pending": 1}
    h.revoke_all()
    assert states(h.engine) == {"withheld": 1}
    with receiver(tmp_path, h.trust, port=port) as recv:
        assert "claimed=" not in one_pass(h)  # a complete pass claimed nothing: withheld is not pending
        assert recv.requests() == 0
    assert task_status(h) == ["withheld"]


def test_withdrawal_before_its_certificate_is_retryable(tmp_path: Path) -> None:
    h, _ = setup(tmp_path)
    resp = submit(h, example("Bundle-lisn-example-withdrawal"))
    oo = resp.get_json()
    assert (resp.status_code, resp.headers["Retry-After"]) == (503, "60"), resp.get_data(as_text=True)
    assert errors.message_id_of(oo["issue"][0]) == "LISN_WITHDRAWAL_BEFORE_CERTIFICATE"
    assert oo["issue"][0]["code"] == "transient"
    assert states(h.engine) == {}


def test_replacement_and_withdrawal_follow_the_original(tmp_path: Path) -> None:
    h, port = setup(tmp_path)
    with receiver(tmp_path, h.trust, port=port) as recv:
        worker = start_worker(worker_env(db_url(h)), recipients=None)
        try:
            assert submit(h, example("Bundle-lisn-example-submission")).status_code == 200
            assert wait_until(lambda: len(recv.summary()["documents"]) == 1, timeout=20)
            assert submit(h, example("Bundle-lisn-example-replacement")).status_code == 200
            assert submit(h, example("Bundle-lisn-example-withdrawal")).status_code == 200
            again = submit(h, example("Bundle-lisn-example-withdrawal"))  # repeated: idempotent
            assert again.status_code == 200, again.get_data(as_text=True)
            assert wait_until(all_settled(h.engine), timeout=20)
        finally:
            stop(worker)
        assert verified(recv, h) == ["certificate", "replacement", "withdrawal"]
        assert set(recv.stored().values()) == {1}
    assert states(h.engine) == {"delivered": 3}


def test_in_process_relay_delivers_for_the_embedded_default(tmp_path: Path) -> None:
    from dataclasses import replace

    from adapter.wiring import start_in_process_relay

    h, port = setup(tmp_path)
    svc = h.app.extensions["lisn"]
    svc.settings = replace(svc.settings, delivery=replace(svc.settings.delivery, run_in_process=True,
                                                          connect_timeout=0.5, read_timeout=1.0, lease_seconds=5))
    with receiver(tmp_path, h.trust, port=port) as recv:
        thread, stop_relay = start_in_process_relay(svc, poll_interval=0.05)
        try:
            assert submit(h, example("Bundle-lisn-example-submission")).status_code == 200
            assert wait_until(lambda: len(recv.summary()["documents"]) == 1, timeout=20)
        finally:
            stop_relay.set()
            thread.join(10)
        assert not thread.is_alive()
        assert verified(recv, h) == ["certificate"]
    assert task_status(h) == ["delivered"]


def test_a_rejected_delivery_shows_as_dead_lettered_on_the_task(tmp_path: Path) -> None:
    from adapter.signing import init_dev_keys

    h, port = setup(tmp_path)
    stranger = init_dev_keys(tmp_path / "another-ca")  # the municipality trusts someone else
    assert submit(h, example("Bundle-lisn-example-submission")).status_code == 200
    with receiver(tmp_path, stranger.ca, port=port) as recv:
        worker = start_worker(worker_env(db_url(h)), recipients=None)
        try:
            assert wait_until(all_settled(h.engine), timeout=20)
        finally:
            stop(worker)
        assert recv.stored() == {}
    [msg] = messages(h.engine)
    task = h.call("ehr", "GET", f"/fhir/Task/{msg.submission_id}").get_json()
    status = task["businessStatus"]
    assert status["coding"][0]["code"] == "dead-lettered"
    assert status["text"].startswith("certificate to 0180, attempt 1: LISN_SIG_")
