"""``adapter demo``: the main job end to end on the embedded default, with real processes.

EHR → FHIR message → validation → consent → signed municipal XML → delivery, exactly as a
region and two municipalities would run it: the service (``adapter serve``, SQLite), the
relay (``adapter worker``) and the reference municipal receiver (``examples/receiver``) are
separate processes that talk HTTP on 127.0.0.1. One municipality takes pushes; the other
pulls. Every step prints what it did; the run fails (exit 1) as soon as a step does not
give what it should.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import requests

from adapter.consent import inline_references
from adapter.data import data_dir
from adapter.fhir.submission import Submission

EXAMPLE = "examples/Bundle-lisn-example-submission.json"
MARKER = ".lisn-demo"
PUSH_KOMMUN = ("0180", "Socialnämnden i Stockholms stad", "2120000142")
PULL_KOMMUN = ("1480", "Socialnämnden i Göteborgs stad", "2120001355")
FHIR_JSON = "application/fhir+json"


class DemoFailed(click.ClickException):
    exit_code = 1


def register(cli: click.Group) -> None:
    cli.add_command(demo)


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/demo"),
              show_default=True, help="Folder for the demo's database, keys and receiver (wiped at start).")
@click.option("--keep-running", is_flag=True, help="Leave the service and receiver running until Ctrl-C.")
def demo(data_dir: Path, keep_running: bool) -> None:
    """Run the whole flow once: submit, consent, sign, push and pull, then verify what arrived."""
    run = _Run(data_dir.resolve())
    with ExitStack() as stack:
        run.prepare()
        run.start(stack)
        run.submit_and_consent()
        run.deliver()
        run.check_receiver()
        run.pull()
        run.audit()
        run.statistics()
        click.secho("\nDemo klar: intyget är validerat, samtyckt, signerat och levererat. "
                    "(Demo done: validated, consented, signed and delivered.)", fg="green")
        if keep_running:
            click.echo(f"Service {run.base}  receiver {run.receiver}  (Ctrl-C to stop)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


class _Run:
    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.env = {**os.environ, "ADAPTER_DATA_DIR": str(folder), "PYTHONUNBUFFERED": "1"}
        self.env.pop("ADAPTER_DATABASE_URL", None)  # the demo is the embedded default
        self.tokens: dict[str, str] = {}
        self.base = ""
        self.receiver = ""
        self.read_token = secrets.token_urlsafe(32)

    # -- set-up ------------------------------------------------------------
    def prepare(self) -> None:
        if self.dir.exists():
            if not (self.dir / MARKER).exists():
                raise click.BadParameter(f"{self.dir} exists and is not a demo folder; choose another",
                                         param_hint="--data-dir")
            shutil.rmtree(self.dir)
        try:
            self.dir.mkdir(parents=True)
        except OSError as exc:
            raise click.BadParameter(f"{self.dir} cannot be created ({exc.strerror})", param_hint="--data-dir") from None
        (self.dir / MARKER).write_text("created by adapter demo\n")
        _step("Utvecklingsnycklar (development keys, TEST ONLY)")
        self.cli("keys", "init", str(self.dir / "keys"))
        _step("Databas (SQLite) och migreringar")
        self.cli("db", "upgrade")
        _step("Klienter: journalsystem (sender) och två kommuner")
        self.tokens["sender"] = self.cli("clients", "add", "demo-journal", "--role", "sender",
                                         "--care-unit", "SE2321000016-15CQ").strip().splitlines()[-1]
        self.tokens["pull"] = self.cli("clients", "add", "demo-goteborg", "--role", "municipality",
                                       "--kommunkod", PULL_KOMMUN[0]).strip().splitlines()[-1]

    def start(self, stack: ExitStack) -> None:
        # In a checkout: examples/receiver/; in an installed wheel: adapter/_data/examples/receiver/.
        receiver_py = data_dir("examples") / "receiver" / "receiver.py"
        if not receiver_py.is_file():
            raise DemoFailed(f"the reference receiver {receiver_py} is missing from this installation")
        _step("Kommunens mottagare (reference receiver) startas")
        token_file = self.dir / "receiver-read-token"
        with os.fdopen(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(self.read_token)  # reads need the token; the file is the demo's only copy
        proc = self.spawn(stack, [sys.executable, str(receiver_py), "--db", str(self.dir / "receiver.db"),
                                  "--trust", str(self.dir / "keys" / "ca.pem"), "--port", "0",
                                  "--read-token-file", str(token_file)])
        line = _read_line(proc, "LISTENING", 30)
        self.receiver = line.split()[-1]
        click.echo(f"  {self.receiver}")
        self.cli("recipients", "add", PUSH_KOMMUN[0], "--name", PUSH_KOMMUN[1], "--orgnr", PUSH_KOMMUN[2],
                 "--mode", "push", "--endpoint", self.receiver)
        self.cli("recipients", "add", PULL_KOMMUN[0], "--name", PULL_KOMMUN[1], "--orgnr", PULL_KOMMUN[2],
                 "--mode", "pull")
        _step("Tjänsten startas (adapter serve, SQLite)")
        port = _free_port()
        self.spawn(stack, [sys.executable, "-m", "adapter", "serve", "--port", str(port)])
        self.base = f"http://127.0.0.1:{port}"
        _wait_http(f"{self.base}/fhir/metadata", 60)
        click.echo(f"  {self.base}/fhir")

    # -- the flow ----------------------------------------------------------
    def submit_and_consent(self) -> None:
        bundle = json.loads((data_dir("profiles") / EXAMPLE).read_text(encoding="utf-8"))
        without_consent = copy.deepcopy(bundle)
        without_consent["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Consent"]
        _step("Intyg 1 skickas utan samtycke → väntar (awaiting-consent)")
        task = self.post_message(without_consent)
        self.expect_status(task, "awaiting-consent")
        _step("Patientens samtycke registreras → intyget släpps (consent-ok)")
        consent = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent")
        # On its own, the Consent names patient and organisations by identifier, not by fullUrl.
        consent = inline_references(consent, Submission(bundle).resolve)
        consent.pop("id", None)
        answer = self.http("POST", "/fhir/Consent", consent, token="sender")
        _expect(answer.status_code == 201, f"consent not created: {answer.status_code} {answer.text[:300]}")
        self.expect_status(task, "consent-ok")
        _step("Intyg 2 (till Göteborg, hämtas av kommunen) skickas med samtycke i meddelandet")
        self.post_message(_readdress(bundle, PULL_KOMMUN))
        self.task1 = task

    def deliver(self) -> None:
        _step("Leverans: adapter worker --once (signerad XML till mottagaren)")
        out = self.cli("worker", "--once", "--verbose").strip()
        if out:
            click.echo("  " + out.splitlines()[-1])
        self.expect_status(self.task1, "delivered")

    def check_receiver(self) -> None:
        _step("Mottagaren har intyget, signaturen verifierad mot kommunens betrodda CA")
        reader = {"Authorization": f"Bearer {self.read_token}"}
        _expect(requests.get(self.receiver.replace("/inbox", "/received"), timeout=10).status_code == 401,
                "the receiver serves its certificates without a read token")
        received = requests.get(self.receiver.replace("/inbox", "/received"), headers=reader, timeout=10).json()
        items = received.get("documents", [])
        _expect(len(items) == 1, f"receiver should hold exactly one certificate, holds {len(items)}")
        key = items[0]["idempotencyKey"]
        doc = requests.get(self.receiver.replace("/inbox", f"/documents/{key}"), headers=reader, timeout=10)
        _expect(doc.status_code == 200, f"the receiver does not serve document {key}: {doc.status_code}")
        path = self.dir / "received-0180.xml"
        path.write_bytes(doc.content)
        self.cli("verify", str(path), "--trust", str(self.dir / "keys" / "ca.pem"))
        click.echo(f"  {path} (adapter verify: OK)")

    def pull(self) -> None:
        _step("Göteborg hämtar sitt intyg (pull) och kvitterar")
        listing = self.http("GET", "/municipal/certificates", token="pull").json()
        certs = listing.get("certificates", [])
        _expect(len(certs) == 1, f"Göteborg should see one certificate, sees {len(certs)}")
        doc = self.http("GET", f"/municipal/{certs[0]['links']['document']}", token="pull")
        path = self.dir / "pulled-1480.xml"
        path.write_bytes(doc.content)
        self.cli("verify", str(path), "--trust", str(self.dir / "keys" / "ca.pem"))
        ack = self.http("POST", f"/municipal/{certs[0]['links']['acknowledge']}", token="pull")
        _expect(ack.status_code == 200, f"acknowledge failed: {ack.status_code} {ack.text[:300]}")
        left = self.http("GET", "/municipal/certificates", token="pull").json().get("certificates", [])
        _expect(not left, "an acknowledged certificate is still listed")
        click.echo(f"  {path} (adapter verify: OK, kvitterat)")
        html = self.dir / "pulled-1480.html"
        self.cli("render", str(path), "--trust", str(self.dir / "keys" / "ca.pem"), "-o", str(html))
        click.echo(f"  läsbar version (readable view): {html}")

    def audit(self) -> None:
        _step("Granskningsloggen (audit log) är obruten")
        click.echo("  " + self.cli("audit", "verify").strip())

    def statistics(self) -> None:
        _step("Statistik över det som skickades (avidentifierad; tal under 5 visas som ..)")
        table = json.loads(self.cli("stats", "--by", "kommun,consent", "--format", "json"))
        _expect("count" not in table["total"] and all(c.get("count", 0) == 0 for c in table["cells"]),
                "two certificates: every count is under 5 and must be hidden")
        click.echo("  " + self.cli("stats", "--by", "kommun,consent").strip().replace("\n", "\n  "))

    # -- helpers -----------------------------------------------------------
    def post_message(self, bundle: dict[str, Any]) -> str:
        answer = self.http("POST", "/fhir/$process-message", bundle, token="sender")
        _expect(answer.status_code in (200, 201), f"submission refused: {answer.status_code} {answer.text[:500]}")
        receipt = answer.json()
        task = next((e["resource"]["id"] for e in receipt.get("entry", [])
                     if e.get("resource", {}).get("resourceType") == "Task"), None)
        _expect(task is not None, "the receipt names no Task")
        click.echo(f"  Task/{task}")
        return str(task)

    def expect_status(self, task: str, wanted: str) -> None:
        body = self.http("GET", f"/fhir/Task/{task}", token="sender").json()
        business = body.get("businessStatus") or {}
        status = next(iter(business.get("coding") or [{}])).get("code") or business.get("text")
        _expect(status == wanted, f"Task/{task} is {status!r}, expected {wanted!r}")
        click.echo(f"  status: {status}")

    def http(self, method: str, path: str, body: Any = None, *, token: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}", "Accept": FHIR_JSON}
        data = None
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return requests.request(method, self.base + path, data=data, headers=headers, timeout=60)

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "adapter", *args], env=self.env, capture_output=True,
                              text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise DemoFailed(f"adapter {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def spawn(self, stack: ExitStack, argv: list[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        stack.callback(_stop, proc)
        return proc


def _readdress(bundle: dict[str, Any], kommun: tuple[str, str, str]) -> dict[str, Any]:
    """A second, distinct certificate for the same patient, addressed to another socialnämnd."""
    other = copy.deepcopy(bundle)
    seed = uuid.UUID("00000000-0000-5000-8000-00000000d3e0")
    for entry in other["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "QuestionnaireResponse":
            res["identifier"]["value"] = f"urn:uuid:{uuid.uuid5(seed, kommun[0])}"
        if res["resourceType"] == "Organization" and res["id"] == "lisn-example-socialnamnd":
            res["identifier"] = [{"system": "https://lisn.se/fhir/sid/kommunkod", "value": kommun[0]},
                                 {"system": "urn:oid:2.5.4.97", "value": kommun[2]}]
            res["name"] = kommun[1]
        if res["resourceType"] == "MessageHeader":
            res["destination"][0]["name"] = kommun[1]
            res["destination"][0]["endpoint"] = f"urn:lisn:kommunkod:{kommun[0]}"
    other["identifier"]["value"] = f"urn:uuid:{uuid.uuid5(seed, 'bundle-' + kommun[0])}"
    return other


def _step(text: str) -> None:
    click.secho(f"• {text}", bold=True)


def _expect(condition: bool, text: str) -> None:
    if not condition:
        raise DemoFailed(text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first line of ``proc``'s output that starts with ``prefix``, waiting at most ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([proc.stdout], [], [], left)
        line = proc.stdout.readline() if ready else ""
        if line.startswith(prefix):
            return line.strip()
        if ready and not line:  # end of output: the process has gone
            break
    raise DemoFailed(f"process did not print {prefix!r} within {timeout:.0f} s")


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise DemoFailed(f"{url} did not answer within {timeout:.0f} s")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
