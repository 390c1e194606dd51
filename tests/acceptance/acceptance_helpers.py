"""Processes for the acceptance tests: the reference receiver and the worker, over real HTTP.

Everything listens on 127.0.0.1 only. Every wait is bounded in time; a process that does
not come up within its deadline fails the test instead of hanging it.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine

from adapter.delivery import idempotency_key
from adapter.flows.ports import Attempt, Match, OutboxMessage
from adapter.signing import load_certificates, load_key, sign_document
from adapter.store.models import ConsentRow
from adapter.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
RECEIVER = ROOT / "examples" / "receiver" / "receiver.py"
MARK_FIRST = Path(__file__).resolve().parent / "mark_first_worker.py"
EXAMPLE_CARE_UNIT = "SE2321000016-15CQ"  # the vårdenhet of the example certificate: keys name the issuer
CLI = "from adapter.cli import main; main()"


READ_TOKEN = "acceptance-test-read-token-0123456789abcdef"


@dataclass
class Receiver:
    proc: subprocess.Popen[str]
    url: str
    db: Path

    @property
    def base(self) -> str:
        return self.url.removesuffix("/inbox")

    def get(self, path: str) -> bytes:
        """A read, with the receiver's read token (reads need one)."""
        request = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"Bearer {READ_TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback
            return bytes(resp.read())

    def summary(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/received")))

    def stored(self) -> dict[str, int]:
        """Per idempotency key: how many times it was stored (201). The test of 'once in effect'."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT idempotency_key, COUNT(*) FROM requests "
                                "WHERE answer LIKE '201 %' GROUP BY idempotency_key").fetchall()
        return dict(rows)

    def requests(self) -> int:
        with sqlite3.connect(self.db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise AssertionError(f"process did not report within {timeout} s")
    return proc.stdout.readline().strip()


@contextmanager
def receiver(tmp: Path, trust: Path, *, port: int = 0, fail_every: int = 0, delay_ms: int = 0,
             name: str = "receiver") -> Iterator[Receiver]:
    db, token = tmp / f"{name}.db", tmp / f"{name}.token"
    token.write_text(READ_TOKEN, encoding="utf-8")
    cmd = [sys.executable, str(RECEIVER), "--db", str(db), "--trust", str(trust), "--host", "127.0.0.1",
           "--port", str(port), "--fail-every", str(fail_every), "--delay-ms", str(delay_ms),
           "--read-token-file", str(token)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = _read_line(proc, 15)
        assert line.startswith("LISTENING "), line
        yield Receiver(proc, line.split(" ", 1)[1], db)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def worker_env(db_url: str, **delivery: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["ADAPTER_DATABASE_URL"] = db_url
    env["ADAPTER_ENV"] = "development"  # a test worker: a server database alone would mean production
    settings = {"lease_seconds": 3, "connect_timeout": 0.5, "read_timeout": 1.0, "backoff_base": 0.05,
                "backoff_max": 0.4, "max_attempts": 100, "breaker_cooldown": 0.4} | delivery  # retries in seconds
    env.update({f"ADAPTER_DELIVERY_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def write_recipients(path: Path, endpoints: dict[str, str]) -> Path:
    path.write_text(json.dumps([{"kommunkod": k, "mode": "push", "endpoint": url}
                                for k, url in endpoints.items()]), encoding="utf-8")
    return path


def start_worker(env: dict[str, str], recipients: Path | None, *, mark_first: bool = False,
                 batch: int = 5) -> subprocess.Popen[bytes]:
    """``recipients`` None: the worker reads the service's recipient registry."""
    head = [sys.executable, str(MARK_FIRST)] if mark_first else [sys.executable, "-c", CLI, "worker"]
    cmd = head + ["--poll", "0.05", "--batch", str(batch)]
    if recipients is not None:
        cmd += ["--recipients", str(recipients)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(15)


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


@functools.lru_cache(maxsize=4)
def _key_material(key: Path, cert: Path) -> tuple[Any, Any]:
    # Parsing an RSA key checks it (about 0.2 s); do it once per key, not once per document.
    return load_key(key), load_certificates(cert)


XML_STATUS = {"certificate": "original", "replacement": "replacing", "withdrawal": "withdrawn"}
EXAMPLE_ID, EXAMPLE_KOMMUN = b"3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d", b"<kommunkod>0180</kommunkod>"


@functools.lru_cache(maxsize=8)
def _municipal_xml(kind: str, replaces: str | None) -> bytes:
    from adapter.outbound import render_municipal_xml

    bundle = example("Bundle-lisn-example-submission")
    return render_municipal_xml(bundle, status=XML_STATUS[kind], replaces=replaces)


def signed(keys: Any, cert: str, kommunkod: str, kind: str, replaces: str | None = None) -> bytes:
    """The example certificate as municipal XML, re-addressed and re-numbered, signed (a real document:
    the reference receiver reads id, kind and replaced certificate from its signed content)."""
    xml = _municipal_xml(kind, replaces if kind == "replacement" else None)
    assert EXAMPLE_ID in xml and EXAMPLE_KOMMUN in xml
    xml = xml.replace(EXAMPLE_ID, cert.encode()).replace(EXAMPLE_KOMMUN, f"<kommunkod>{kommunkod}</kommunkod>".encode())
    key, chain = _key_material(keys.key, keys.cert)
    return sign_document(xml, key=key, cert_chain=chain)


def enqueue_signed(engine: Engine, keys: Any, certs: list[str], kommunkod: str, *,
                   kind: str = "certificate", replaces: str | None = None) -> list[str]:
    """Queue signed documents as the service would; a key already queued is left as it is."""
    keys_out = []
    with SqlStore(engine).transaction() as tx:
        for cert in certs:
            key = idempotency_key(cert, kommunkod, kind, care_unit=EXAMPLE_CARE_UNIT)
            if not tx.messages(Match(key=key)):
                tx.enqueue(key=key, submission_id=f"sub-{cert}", certificate_id=cert, kommunkod=kommunkod, kind=kind,
                           document=signed(keys, cert, kommunkod, kind, replaces), replaces=replaces,
                           at=datetime.now(UTC), care_unit=EXAMPLE_CARE_UNIT)
            keys_out.append(key)
    return keys_out


def messages(engine: Engine, **match: Any) -> list[OutboxMessage]:
    with SqlStore(engine).transaction() as tx:
        return tx.messages(Match(**match))


def attempts(engine: Engine, key: str) -> list[Attempt]:
    with SqlStore(engine).transaction() as tx:
        return tx.attempts(key)


def states(engine: Engine) -> dict[str, int]:
    """How many outbox messages are in each state."""
    with SqlStore(engine).transaction() as tx:
        counts = tx.counts()
    found: dict[str, int] = {}
    for state, _, count in counts:
        found[state] = found.get(state, 0) + count
    return found


def all_settled(engine: Engine) -> Callable[[], bool]:
    return lambda: set(states(engine)) <= {"delivered", "dead", "acknowledged", "withheld", "withdrawn"}


# -- the service, in process (its HTTP API through the WSGI test client) -------------------------

EXAMPLES = ROOT / "profiles" / "examples"


def example(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def without_consent(bundle: dict[str, Any]) -> dict[str, Any]:
    out = dict(bundle)
    out["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Consent"]
    return out


@dataclass
class Harness:
    """The service app with a sender, municipality clients and recipients registered."""

    app: Any
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/fhir+json"
        return self.app.test_client().open(path, method=method, data=data, headers=headers)

    @property
    def engine(self) -> Engine:
        return self.app.extensions["lisn"].store.engine  # type: ignore[no-any-return]

    def consent_ids(self) -> list[str]:
        with SqlStore(self.engine).session() as session:
            return list(session.scalars(sql_select(ConsentRow.id).order_by(ConsentRow.created_at)))

    def revoke_all(self) -> None:
        for cid in self.consent_ids():
            resp = self.call("ehr", "POST", f"/fhir/Consent/{cid}/$revoke")
            assert resp.status_code == 200, resp.get_data(as_text=True)

    @property
    def trust(self) -> Path:
        return Path(self.app.extensions["lisn"].settings.database.data_dir) / "keys" / "ca.pem"


def harness(data_dir: Path, endpoints: dict[str, str | None]) -> Harness:
    """``endpoints``: kommunkod -> push URL, or None for a pull recipient."""
    from adapter.api import create_app
    from adapter.settings import DatabaseSettings, Settings
    from adapter.store import clients, recipients

    app = create_app({"TESTING": True, "SETTINGS": Settings(database=DatabaseSettings(data_dir=data_dir))})
    svc = app.extensions["lisn"]
    tokens: dict[str, str] = {}
    with svc.store.session() as session:
        _, token = clients.add_client(session, name="ehr", role="sender", pepper=svc.pepper,
                                      care_units=("SE2321000016-15CQ",))
        tokens["ehr"] = token
        for kommunkod, url in endpoints.items():
            name = f"socialnamnd-{kommunkod}"
            _, token = clients.add_client(session, name=name, role="municipality", pepper=svc.pepper,
                                          kommunkod=kommunkod)
            tokens[kommunkod] = token
            recipients.add_recipient(session, kommunkod=kommunkod, name=f"Socialnämnden {kommunkod}",
                                     delivery_mode="push" if url else "pull", endpoint_url=url)
    return Harness(app, tokens)
