"""Production shape: gunicorn with two workers against PostgreSQL, concurrent submissions.

Distinct certificates are all accepted; the same certificate sent six times at once is stored
once and every caller gets the first answer; the audit chain stays one chain.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from service_helpers import FHIR, ROOT, example

from adapter.signing.keys import init_dev_keys
from adapter.store import audit, migrate
from adapter.store.clients import add_client
from adapter.store.db import make_engine, session_factory, transaction
from adapter.store.recipients import add_recipient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PEPPER = "gunicorn-test-pepper"
AUDIT_KEY = b"gunicorn-test-audit-key-of-32-bytes!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def deployment(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str, sa.Engine]]:
    schema = f"t_gunicorn_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with transaction(session_factory(engine)) as session:
        _, token = add_client(session, name="ehr", role="sender", pepper=PEPPER.encode(),
                              care_units=("SE2321000016-15CQ",))
        add_recipient(session, kommunkod="0180", name="Socialnämnden i Stockholms stad")
    port = _free_port()
    # A server database makes this a production instance: every secret is configured.
    keys = init_dev_keys(tmp_path / "secrets")
    (tmp_path / "secrets" / "audit-key").write_bytes(AUDIT_KEY)
    env = dict(os.environ, ADAPTER_DATABASE_URL=url, ADAPTER_DATA_DIR=str(tmp_path),
               ADAPTER_SERVICE_TOKEN_PEPPER=PEPPER, ADAPTER_SIGNING_KEY_PATH=str(keys.key),
               ADAPTER_SIGNING_CERT_PATH=str(keys.cert), ADAPTER_AUDIT_KEY_PATH=str(tmp_path / "secrets" / "audit-key"))
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                             "-w", "2", "-b", f"127.0.0.1:{port}", "adapter.api:create_app()"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        _wait(base, proc)
        yield base, token, engine
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _wait(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "gunicorn exited")
        try:
            if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise TimeoutError("gunicorn did not answer")


def _with_id(certificate: str) -> dict[str, Any]:
    bundle = copy.deepcopy(example())
    bundle["entry"][1]["resource"]["identifier"]["value"] = certificate
    return bundle


def test_two_workers_accept_concurrent_submissions_once(deployment: tuple[str, str, sa.Engine],
                                                        tmp_path: Path) -> None:
    base, token, engine = deployment
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR}
    same = json.dumps(example())
    bodies = [json.dumps(_with_id(f"urn:uuid:{uuid.uuid4()}")) for _ in range(8)] + [same] * 6

    def post(body: str) -> tuple[int, Any]:
        r = requests.post(f"{base}/$process-message", data=body.encode(), headers=headers, timeout=60)
        return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, bodies))
    assert [status for status, _ in results] == [200] * 14, [b for s, b in results if s != 200]
    repeated = [body for _, body in results[8:]]
    assert all(body == repeated[0] for body in repeated)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM submissions")).scalar_one() == 9
        assert conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() == 9
    with transaction(session_factory(engine)) as session:
        seal = audit.AuditSeal(key=AUDIT_KEY, checkpoints=tmp_path / "audit-checkpoints.jsonl")
        assert audit.verify(session, seal) == (14, None)
