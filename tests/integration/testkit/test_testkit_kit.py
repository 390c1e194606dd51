"""``adapter testkit`` against real processes over real HTTP.

- sender scenarios pass against our own server (``adapter serve``, SQLite; PostgreSQL when
  ADAPTER_TEST_POSTGRES_URL reaches one), twice in a row against the same deployment, and fail
  against the broken sender of ``broken_endpoints.py`` (200 to everything);
- receiver scenarios pass against the reference receiver (examples/receiver) and fail against
  the broken receiver (accepts everything), each failure where the broken receiver breaks a rule;
- an endpoint that is not there is exit 3, a bad scenario file exit 2.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from adapter.cli import cli
from adapter.signing import init_dev_keys

ROOT = Path(__file__).resolve().parents[3]
BROKEN = Path(__file__).resolve().parent / "broken_endpoints.py"
RECEIVER = ROOT / "examples" / "receiver" / "receiver.py"
SENDER_SCENARIOS = sorted(p.stem for p in (ROOT / "adapter" / "testkit" / "scenarios" / "sender").glob("*.yaml"))
RECEIVER_SCENARIOS = sorted(p.stem for p in (ROOT / "adapter" / "testkit" / "scenarios" / "receiver").glob("*.yaml"))
CLI = [sys.executable, "-c", "from adapter.cli import main; main()"]

pytestmark = pytest.mark.slow  # server and receiver processes


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise AssertionError(f"process did not report within {timeout} s")
    return proc.stdout.readline().strip()


@contextmanager
def process(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """A process that prints ``LISTENING <url>`` first; yields the URL."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = _first_line(proc, 30)
        assert line.startswith("LISTENING "), line
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def our_server(tmp: Path, database_url: str = "") -> Iterator[tuple[str, str]]:
    """``adapter serve`` as its own process, with a sender client and recipient 0180; yields (base, token)."""
    # A test instance: development keys are generated (a server database alone means production).
    settings = {"ADAPTER_DATA_DIR": str(tmp), "ADAPTER_DATABASE_URL": database_url, "ADAPTER_ENV": "development"}
    env = dict(os.environ, **settings)
    run = CliRunner(env=settings)
    assert run.invoke(cli, ["db", "upgrade"]).exit_code == 0
    added = run.invoke(cli, ["clients", "add", f"journal-{uuid.uuid4().hex[:6]}", "--role", "sender",
                             "--care-unit", "SE2321000016-15CQ"])
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    if "0180" not in run.invoke(cli, ["recipients", "list"]).output:
        assert run.invoke(cli, ["recipients", "add", "0180", "--name", "Socialnämnden i Stockholms stad"]).exit_code == 0
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "adapter serve did not come up"
            time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        proc.wait(15)


def kit(*args: str) -> Result:
    return CliRunner().invoke(cli, ["testkit", *args])


def junit_verdicts(path: Path) -> dict[str, bool]:
    """scenario id -> passed, from the JUnit XML the kit wrote."""
    root = ET.parse(path).getroot()
    return {tc.get("name", "").split(":")[0]: tc.find("failure") is None for tc in root.iter("testcase")}


def _sender_passes(tmp_path: Path, database_url: str = "") -> None:
    with our_server(tmp_path / "service", database_url) as (base, token):
        for run in (1, 2):  # the same deployment again: the kit leaves nothing that breaks a second run
            report = tmp_path / f"sender-{run}.xml"
            result = kit("sender", "--base-url", base, "--token", token, "--junit", str(report),
                         "--html", str(tmp_path / f"sender-{run}.html"))
            assert result.exit_code == 0, result.output
            verdicts = junit_verdicts(report)
            assert sorted(verdicts) == SENDER_SCENARIOS and all(verdicts.values()), verdicts
            assert f"{len(SENDER_SCENARIOS)} passed, 0 failed" in result.output
    html = (tmp_path / "sender-1.html").read_text(encoding="utf-8")
    assert token not in html and "Bearer ***" in html  # credentials never reach a report
    assert "LISN_PERSONNUMMER_CHECKSUM" in html and "<script" not in html


def test_sender_scenarios_pass_against_our_server_on_sqlite(tmp_path: Path) -> None:
    _sender_passes(tmp_path)


@pytest.mark.postgres
def test_sender_scenarios_pass_against_our_server_on_postgres(tmp_path: Path, pg_url: str) -> None:
    import sqlalchemy as sa

    schema = f"t_testkit_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        _sender_passes(tmp_path, f"{pg_url}?options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_sender_scenarios_fail_against_a_sender_that_answers_200_to_everything(tmp_path: Path) -> None:
    with process([sys.executable, str(BROKEN), "--mode", "sender"]) as base:
        report = tmp_path / "broken.xml"
        result = kit("sender", "--base-url", base, "--token", "t", "--junit", str(report))
    assert result.exit_code == 1, result.output
    verdicts = junit_verdicts(report)
    assert sorted(verdicts) == SENDER_SCENARIOS
    assert not any(verdicts.values()), [k for k, v in verdicts.items() if v]  # every scenario catches it
    assert "expected status 422, found status 200" in result.output


@pytest.fixture
def signing(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    init_dev_keys(keys)
    return keys


def _reference_receiver(tmp: Path, keys: Path) -> list[str]:
    token = tmp / "read-token"
    token.write_text("r" * 40, encoding="utf-8")
    return [sys.executable, str(RECEIVER), "--db", str(tmp / "receiver.db"), "--trust", str(keys / "ca.pem"),
            "--port", "0", "--kommunkod", "0180", "--read-token-file", str(token)]


def test_receiver_scenarios_pass_against_the_reference_receiver(tmp_path: Path, signing: Path) -> None:
    with process(_reference_receiver(tmp_path, signing)) as url:
        report, html = tmp_path / "receiver.xml", tmp_path / "receiver.html"
        result = kit("receiver", "--url", url, "--key", str(signing / "signing-key.pem"),
                     "--cert", str(signing / "signing-cert.pem"), "--junit", str(report), "--html", str(html))
    assert result.exit_code == 0, result.output
    verdicts = junit_verdicts(report)
    assert sorted(verdicts) == RECEIVER_SCENARIOS and all(verdicts.values()), verdicts
    assert "&lt;ds:Signature" in html.read_text(encoding="utf-8")  # the signed document as pushed, escaped


def test_receiver_scenarios_fail_against_a_receiver_that_accepts_everything(tmp_path: Path, signing: Path) -> None:
    with process([sys.executable, str(BROKEN), "--mode", "receiver"]) as url:
        report = tmp_path / "broken.xml"
        result = kit("receiver", "--url", url, "--key", str(signing / "signing-key.pem"),
                     "--cert", str(signing / "signing-cert.pem"), "--junit", str(report))
    assert result.exit_code == 1, result.output
    failed = sorted(k for k, ok in junit_verdicts(report).items() if not ok)
    # It acknowledges a good document (that part is right); every refusal and the idempotency are missing.
    assert failed == [s for s in RECEIVER_SCENARIOS if s != "01-good-document"], failed


def test_the_reference_receiver_without_its_kommun_fails_the_unknown_recipient_scenario(
        tmp_path: Path, signing: Path) -> None:
    """Only the recipient check is removed (no --kommunkod): exactly that scenario fails."""
    cmd = _reference_receiver(tmp_path, signing)
    cmd = cmd[:cmd.index("--kommunkod")] + cmd[cmd.index("--kommunkod") + 2:]
    with process(cmd) as url:
        report = tmp_path / "r.xml"
        result = kit("receiver", "--url", url, "--key", str(signing / "signing-key.pem"),
                     "--cert", str(signing / "signing-cert.pem"), "--junit", str(report))
    assert result.exit_code == 1
    assert [k for k, ok in junit_verdicts(report).items() if not ok] == ["06-unknown-recipient"]


def test_an_endpoint_that_is_not_there_is_exit_3(tmp_path: Path) -> None:
    result = kit("sender", "--base-url", f"http://127.0.0.1:{_free_port()}/fhir", "--token", "t", "--only", "01-*")
    assert result.exit_code == 3, result.output
    assert "answered no request" in result.output


def test_a_broken_scenario_file_is_exit_2_naming_file_and_place(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("name: x\nsteps:\n  - request: {method: GET, path: /metadata}\n"
                                     "    expect: [{status: twohundred}]\n", encoding="utf-8")
    result = kit("sender", "--base-url", "http://127.0.0.1:9/fhir", "--token", "t", "--scenarios", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path / 'x.yaml'}: steps[0].expect[0]: status is one number" in result.output
    assert "Traceback" not in result.output


def _tls_files(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
             ca: bool = False, ip: str | None = None) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.now(UTC)
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer[0] if issuer else name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ip:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(ip))]), critical=False)
        return b.sign(issuer[1] if issuer else key, hashes.SHA256())

    out: dict[str, Path] = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("testkit TLS CA", ca_key, None, ca=True)
    pairs = {"ca": (ca, ca_key)}
    for name, ip in (("server", "127.0.0.1"), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        pairs[name] = (cert(name, key, (ca.subject, ca_key), ip=ip), key)
    for name, (c, k) in pairs.items():
        out[name] = folder / f"{name}.pem"
        out[name].write_bytes(c.public_bytes(serialization.Encoding.PEM))
        out[f"{name}-key"] = folder / f"{name}-key.pem"
        out[f"{name}-key"].write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return out


def test_receiver_scenarios_over_mutual_tls(tmp_path: Path, signing: Path) -> None:
    """--ca verifies the receiver's server certificate; --client-cert/--client-key present the kit's."""
    tls = _tls_files(tmp_path)
    cmd = _reference_receiver(tmp_path, signing) + ["--tls-cert", str(tls["server"]), "--tls-key",
                                                    str(tls["server-key"]), "--client-ca", str(tls["ca"])]
    keys = ["--key", str(signing / "signing-key.pem"), "--cert", str(signing / "signing-cert.pem")]
    with process(cmd) as url:
        assert url.startswith("https://")
        ok = kit("receiver", "--url", url, *keys, "--ca", str(tls["ca"]), "--client-cert", str(tls["client"]),
                 "--client-key", str(tls["client-key"]), "--only", "01-*", "--only", "02-*")
        no_client_cert = kit("receiver", "--url", url, *keys, "--ca", str(tls["ca"]), "--only", "01-*")
    assert ok.exit_code == 0, ok.output
    assert no_client_cert.exit_code == 3, no_client_cert.output  # the handshake is refused: no answer at all
