"""Slow request bodies against the production gunicorn configuration (issue 13).

Eight connections that each send their headers and one byte of a body used to hold every worker
thread for good, so the service answered nobody. The body-read deadline
(``ADAPTER_LIMITS_BODY_READ_SECONDS``) answers each of them 408 and frees the thread.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from service_helpers import ROOT

from adapter import wiring
from adapter.settings import Settings
from adapter.store.clients import add_client

pytestmark = pytest.mark.slow
DEADLINE = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp_path: Path, deadline: float) -> tuple[subprocess.Popen[bytes], int, str]:
    env = dict(os.environ, ADAPTER_DATA_DIR=str(tmp_path), ADAPTER_DATABASE_URL="",
               ADAPTER_LIMITS_BODY_READ_SECONDS=str(deadline))
    settings = Settings.from_env(env)
    store = wiring.open_store(settings)
    with store.session() as session:
        _, token = add_client(session, name="ehr", role="sender", pepper=wiring.token_pepper(settings),
                              care_units=("SE2321000016-15CQ",))
    store.engine.dispose()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                             "-w", "1", "--threads", "2", "-b", f"127.0.0.1:{port}", "adapter.api:create_app()"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "gunicorn exited")
        try:
            if requests.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2).status_code == 200:
                return proc, port, token
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("gunicorn did not start")


def test_one_byte_bodies_do_not_starve_the_service(tmp_path: Path) -> None:
    proc, port, token = _start(tmp_path, DEADLINE)
    slow: list[socket.socket] = []
    try:
        head = (f"POST /fhir/$process-message HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n{").encode()
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(head)
            slow.append(s)
        time.sleep(0.3)
        started = time.monotonic()
        answer = requests.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=25)
        waited = time.monotonic() - started
        assert answer.status_code == 200
        # Eight slow bodies on two threads: four rounds of the deadline, not forever.
        assert waited < 8 * DEADLINE + 5, waited
        for s in slow:
            status_line = s.recv(4096).split(b"\r\n", 1)[0]
            assert status_line.startswith(b"HTTP/1.1 408"), status_line
    finally:
        for s in slow:
            s.close()
        proc.terminate()
        proc.communicate(timeout=30)


WIRE = sorted((ROOT / "tests" / "hostile" / "wire").glob("*.http"))


def test_malformed_wire_requests_under_gunicorn(tmp_path: Path) -> None:
    """The hostile corpus's malformed chunk sizes and request lines against the production server:
    a 400 each, never a 500, a dropped connection or a traceback in the error log."""
    proc, port, token = _start(tmp_path, 5.0)
    try:
        for path in WIRE:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(path.read_bytes().replace(b"{TOKEN}", token.encode()))
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", (path.name, answer[:300])
            if path.name.startswith("chunk"):  # the app answers these: an OperationOutcome
                assert b'"resourceType":"OperationOutcome"' in answer, (path.name, answer[:300])
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()[-2000:]
