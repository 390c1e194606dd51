"""Issue 13 through the real faces: the audit seal via `adapter audit verify`, production refusal
without configured secrets, private files, a durable SQLite."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from service_helpers import EXAMPLE, ROOT, Api

from adapter import wiring
from adapter.cli import cli
from adapter.settings import Settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ADAPTER_DATA_DIR": str(tmp_path / "var"), "ADAPTER_DATABASE_URL": "",
            "ADAPTER_AUDIT_CHECKPOINT_PATH": str(tmp_path / "log-host" / "checkpoints.jsonl"), **extra}


def _submit_twice(tmp_path: Path, env: dict[str, str]) -> None:
    run = CliRunner(env=env)
    token = run.invoke(cli, ["clients", "add", "journal", "--role", "sender",
                             "--care-unit", "SE2321000016-15CQ"]).output.strip()
    assert run.invoke(cli, ["recipients", "add", "0180", "--name", "Socialnämnden i Stockholms stad"]).exit_code == 0
    from adapter.api import create_app

    app = create_app({"SETTINGS": Settings.from_env(env)})
    for _ in range(2):
        r = app.test_client().post("/fhir/$process-message", data=EXAMPLE.read_bytes(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
        assert r.status_code == 200
    app.extensions["lisn"].store.engine.dispose()


def test_audit_verify_finds_a_truncation_made_with_sql_alone(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _submit_twice(tmp_path, env)
    run = CliRunner(env=env)
    assert run.invoke(cli, ["audit", "verify"]).output == "audit chain intact: 2 rows\n"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'adapter.db'}")
    with engine.begin() as conn:  # the two statements of the review: cut the last row, move the head back
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 1, hash = (SELECT hash FROM audit_log WHERE seq = 1)"))
    engine.dispose()
    broken = run.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN at row 2: rows 2..2 are gone" in broken.output


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    env = _env(tmp_path, ADAPTER_ENV="production")
    result = CliRunner(env=env).invoke(cli, ["clients", "list"])
    assert result.exit_code == 3
    for name in ("ADAPTER_SIGNING_KEY_PATH", "ADAPTER_SIGNING_CERT_PATH", "ADAPTER_SERVICE_TOKEN_PEPPER",
                 "ADAPTER_AUDIT_KEY_PATH"):
        assert name in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "var" / "audit-key").exists() and not (tmp_path / "var" / "keys").exists()
    from adapter.api import create_app

    with pytest.raises(wiring.UnsafeConfiguration, match="ADAPTER_SIGNING_KEY_PATH"):
        create_app({"SETTINGS": Settings.from_env(env)})


@pytest.mark.parametrize(("env", "production"), [
    ({"ADAPTER_DATABASE_URL": "postgresql+psycopg://lisn@db/lisn"}, True),
    ({"ADAPTER_ENV": "production"}, True),
    ({"ADAPTER_DATABASE_URL": "postgresql+psycopg://lisn@db/lisn", "ADAPTER_ENV": "development"}, False),
    ({"ADAPTER_DATABASE_URL": "sqlite:////tmp/x.db"}, False),
    ({}, False),
])
def test_what_counts_as_production(env: dict[str, str], production: bool) -> None:
    settings = Settings.from_env(env)
    assert settings.production is production
    if production:
        with pytest.raises(wiring.UnsafeConfiguration):
            wiring.token_pepper(settings)


def test_production_starts_with_every_secret_configured(tmp_path: Path) -> None:
    from adapter.signing.keys import init_dev_keys

    keys = init_dev_keys(tmp_path / "secrets")
    (tmp_path / "secrets" / "audit-key").write_text("a" * 64)
    env = _env(tmp_path, ADAPTER_ENV="production", ADAPTER_SIGNING_KEY_PATH=str(keys.key),
               ADAPTER_SIGNING_CERT_PATH=str(keys.cert), ADAPTER_SERVICE_TOKEN_PEPPER="p" * 64,
               ADAPTER_AUDIT_KEY_PATH=str(tmp_path / "secrets" / "audit-key"))
    result = CliRunner(env=env).invoke(cli, ["clients", "add", "k", "--role", "admin"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "var" / "token-pepper").exists() and not (tmp_path / "var" / "audit-key").exists()


def test_a_short_audit_key_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("short")
    result = CliRunner(env=_env(tmp_path, ADAPTER_AUDIT_KEY_PATH=str(tmp_path / "k"))).invoke(cli, ["audit", "verify"])
    assert result.exit_code == 3 and "shorter than 32 bytes" in result.output


def test_secret_files_and_the_database_are_private(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _submit_twice(tmp_path, env)
    var = tmp_path / "var"
    for path in (var / "adapter.db", var / "audit-key", var / "token-pepper", var / "keys" / "signing-key.pem",
                 tmp_path / "log-host" / "checkpoints.jsonl"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for side in var.glob("adapter.db-*"):  # the WAL and shared-memory files take the database's mode
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    store = wiring.open_store(Settings.from_env(_env(tmp_path)))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    store.engine.dispose()


SAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "adapter.env.sample"


def _sample() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in SAMPLE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_the_sample_configuration_trusts_no_loopback_proxy() -> None:
    sample = _sample()
    proxies = Settings.from_env(sample).service.trusted_proxies
    assert proxies, "the sample names its proxy"
    assert not [a for a in proxies if wiring.is_loopback(a)]
    assert "loopback" in SAMPLE.read_text(encoding="utf-8").lower()  # and says why
    # Every secret a production instance needs is named in the sample.
    for name in ("ADAPTER_SIGNING_KEY_PATH", "ADAPTER_SIGNING_CERT_PATH", "ADAPTER_SERVICE_TOKEN_PEPPER",
                 "ADAPTER_AUDIT_KEY_PATH"):
        assert sample.get(name), name


SECRETS = {"ADAPTER_ENV": "production", "ADAPTER_SIGNING_KEY_PATH": "k", "ADAPTER_SIGNING_CERT_PATH": "c",
           "ADAPTER_SERVICE_TOKEN_PEPPER": "p", "ADAPTER_AUDIT_KEY_PATH": "a"}


@pytest.mark.parametrize("proxies", ["127.0.0.1", "127.1.2.3", "::1", "localhost", "10.20.0.4,::ffff:127.0.0.1"])
def test_production_refuses_a_loopback_proxy(proxies: str) -> None:
    settings = Settings.from_env({**SECRETS, "ADAPTER_SERVICE_TRUSTED_PROXIES": proxies})
    with pytest.raises(wiring.UnsafeConfiguration, match="loopback"):
        wiring.check_production(settings)
    wiring.check_production(Settings.from_env({**SECRETS, "ADAPTER_SERVICE_TRUSTED_PROXIES": "10.20.0.4"}))


# -- hostile input leftovers (issue 13), on SQLite and PostgreSQL (the `api` fixture) ------------

def _mid(body: dict[str, Any]) -> list[str]:
    from adapter.errors import message_id_of

    return [m for m in (message_id_of(i) for i in body.get("issue", [])) if m]


@pytest.mark.parametrize("shape", ["absolute", "dotdot", "long"])
def test_format_names_only_a_registered_mapping(api: Api, tmp_path: Path, shape: str) -> None:
    """``?format=`` was joined into a path: an absolute path or ``../`` loaded any ``*.yaml``."""
    planted = tmp_path / ("x" * 50 if shape == "long" else "planted")
    shutil.copy(ROOT / "mappings" / "inbound" / "inera-xml.yaml", f"{planted}.yaml")
    fmt = {"absolute": str(planted), "long": str(planted),
           "dotdot": "../" * 12 + str(planted).lstrip("/")}[shape]
    raw = (ROOT / "mappings" / "examples" / "inera-xml" / "lisn-depression.xml").read_bytes()
    before = api.counts()
    r = api.post(f"/fhir/$process-message?format={quote(fmt, safe='')}", raw, content_type="application/xml")
    assert r.status_code == 422 and _mid(r.json) == ["LISN_MAP_FORMAT_UNKNOWN"], r.json
    assert api.counts() == before
    # The control: the same export under its registered name is accepted.
    assert api.post("/fhir/$process-message?format=inera-xml", raw, content_type="application/xml").status_code == 200


@pytest.mark.parametrize(("body", "line", "column"), [
    (b'{"resourceType": "Bundle", "type": "message", "total": NaN}', 1, 56),
    (b'{"resourceType": "Bundle",\n "entry": [{"resource": {"valueDecimal": -Infinity}}]}', 2, 42),
    (b'{"resourceType": "Bundle", "id": "NaN", "total": Infinity}', 1, 50),
])
def test_json_nan_and_infinity_are_refused_at_parse(api: Api, body: bytes, line: int, column: int) -> None:
    before = api.counts()
    for path in ("/fhir/$process-message", "/fhir/Consent", "/fhir/Bundle/$validate"):
        r = api.post(path, body)
        assert r.status_code == 400 and _mid(r.json) == ["LISN_INPUT_NOT_JSON"], (path, r.json)
        ext = {e["url"].rsplit("-", 1)[-1]: e.get("valueInteger") for e in r.json["issue"][0]["extension"]}
        assert (ext["line"], ext["col"]) == (line, column)
    assert api.counts() == before


@pytest.mark.parametrize("message_id", ["%00", "a%00b", "00000000-0000-4000-8000-00000000000%00",
                                        "x" * 300, "%C3%A5%F0%9F%98%80"])
def test_odd_pull_ids_are_404_like_any_unknown_id(api: Api, message_id: str) -> None:
    unknown = api.get("/municipal/certificates/00000000-0000-4000-8000-000000000000", who="stockholm")
    assert unknown.status_code == 404
    r = api.get(f"/municipal/certificates/{message_id}", who="stockholm")
    assert r.status_code == 404 and _mid(r.json) == _mid(unknown.json) == ["LISN_DELIVERY_NOT_ADDRESSED"]
    ack = api.post(f"/municipal/certificates/{message_id}/$acknowledge", b"", who="stockholm", content_type=None)
    assert ack.status_code == 404 and _mid(ack.json) == ["LISN_DELIVERY_NOT_ADDRESSED"]


def test_task_search_answers_another_tenants_certificate_as_a_missing_one(api: Api) -> None:
    api.submit_example()
    cert = "urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d"
    missing = "urn:uuid:00000000-0000-4000-8000-000000000000"
    assert api.get(f"/fhir/Task?focus={cert}", who="ehr").json["total"] == 1
    for outsider in ("other-ehr", "goteborg"):
        theirs, nobodys = api.get(f"/fhir/Task?focus={cert}", who=outsider), api.get(f"/fhir/Task?focus={missing}", who=outsider)
        assert (theirs.status_code, theirs.get_data()) == (nobodys.status_code, nobodys.get_data())
        assert theirs.status_code == 200 and theirs.json["total"] == 0
    assert [(r["actor"], r["outcome"]) for r in api.audit_rows() if r["action"] == "task-search"][1::2] == [
        ("other-ehr", "filtered"), ("goteborg", "filtered")]


# -- adapter clients disable ----------------------------------------------------------------------

def test_a_disabled_client_is_refused_at_its_next_request(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from adapter.signing.keys import make_ca, new_key

    env = _env(tmp_path, ADAPTER_SERVICE_TRUSTED_PROXIES="10.20.0.4")
    run = CliRunner(env=env)
    key = new_key("ecdsa")
    cert = make_ca(key, name="journal client")
    (tmp_path / "client.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    token = run.invoke(cli, ["clients", "add", "journal", "--role", "sender", "--care-unit", "SE2321000016-15CQ",
                             "--cert", str(tmp_path / "client.pem")]).output.strip()
    from adapter.api import create_app

    app = create_app({"SETTINGS": Settings.from_env(env)})
    client = app.test_client()
    by_token = {"Authorization": f"Bearer {token}"}
    by_cert = {"X-SSL-Client-Cert": quote(cert.public_bytes(Encoding.PEM).decode())}
    proxy = {"REMOTE_ADDR": "10.20.0.4"}
    search = "/fhir/Task?focus=urn:uuid:00000000-0000-4000-8000-000000000000"
    assert client.get(search, headers=by_token).status_code == 200
    assert client.get(search, headers=by_cert, environ_base=proxy).status_code == 200

    # Only the certificate: the token still works, the certificate no longer does.
    done = run.invoke(cli, ["clients", "disable", "journal", "--cert-only"])
    assert done.exit_code == 0, done.output
    assert client.get(search, headers=by_cert, environ_base=proxy).status_code == 401
    assert client.get(search, headers=by_token).status_code == 200

    # The whole client, while the service runs: the very next request is refused.
    assert run.invoke(cli, ["clients", "disable", "journal"]).exit_code == 0
    refused = client.get(search, headers=by_token)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    app.extensions["lisn"].store.engine.dispose()

    assert run.invoke(cli, ["clients", "disable", "nobody"]).exit_code == 2
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'adapter.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT action, outcome, certificate FROM audit_log WHERE action = "
                                    "'client-disable' ORDER BY seq")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("client-disable", "certificate-removed", "client:journal"),
                                        ("client-disable", "disabled", "client:journal")]
    assert run.invoke(cli, ["audit", "verify"]).exit_code == 0


# -- protected identity through the inbound FHIR mapping ------------------------------------------

def _protected_export(label: dict[str, str]) -> dict[str, Any]:
    from service_helpers import example

    bundle = example()
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient.setdefault("meta", {})["security"] = [label]
    patient["address"] = [{"line": ["Hemliga gatan 1"], "postalCode": "11111", "city": "Hemliga staden"}]
    return bundle


@pytest.mark.parametrize("code", ["skyddadFolkbokforing", "sekretessmarkering"])
def test_a_protected_patient_from_a_fhir_export_stays_protected(api: Api, code: str) -> None:
    """Inbound FHIR export with HL7 Sweden's label -> municipal XML with skyddadIdentitet=true and
    neither name nor address (the old mapping dropped the label with a warning: false, name sent)."""
    label = {"system": "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel", "code": code}
    r = api.post("/fhir/$process-message?format=fhir", _protected_export(label))
    assert r.status_code == 200, r.json
    with api.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT bundle FROM submissions")).scalar_one()
        documents = [bytes(d) for d in conn.execute(sa.text("SELECT document FROM outbox")).scalars()]
    assert "SecurityLabel" in str(stored) and "Tolvan" not in str(stored)
    assert documents, "released to the municipality"
    for xml in documents:
        assert b"<skyddadIdentitet>true</skyddadIdentitet>" in xml
        for leaked in (b"Tolvan", b"Hemliga", b"11111", b"<adress"):
            assert leaked not in xml


def test_a_security_label_no_rule_reads_is_refused_not_dropped(api: Api) -> None:
    label = {"system": "urn:oid:1.2.752.129.2.2.2.999", "code": "skyddad"}
    before = api.counts()
    r = api.post("/fhir/$process-message?format=fhir", _protected_export(label))
    assert r.status_code == 422 and "LISN_MAP_SECURITY_LABEL_DROPPED" in _mid(r.json), r.json
    assert r.json["issue"][0]["expression"] == ["Patient.meta.security[0].system"] or any(
        i.get("expression") == ["Patient.meta.security[0].system"] for i in r.json["issue"])
    assert api.counts() == before


def test_another_tenants_certificate_id_is_answered_as_a_fresh_id(api: Api) -> None:
    """Issue 13: a certificate is known by its care unit and its id together; over HTTP, another
    tenant's id gets the status and the Task of a fresh id, and never names the first Task."""
    import json as _json

    from service_helpers import example

    first = api.submit_example()
    task_id = next(e["resource"]["id"] for e in first.json["entry"] if e["resource"]["resourceType"] == "Task")
    theirs = _json.loads(_json.dumps(example()).replace("SE2321000016-15CQ", "SE2321000016-9ZZZ"))
    r = api.post("/fhir/$process-message", theirs, who="other-ehr")
    fresh = _json.loads(_json.dumps(theirs).replace("3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d",
                                                    "0b7e4c2a-9d1f-4e3b-8a5c-6f2d1e0c9b8a"))
    f = api.post("/fhir/$process-message", fresh, who="other-ehr")
    assert (r.status_code, f.status_code) == (200, 200), r.json

    def task_status(answer: Any) -> tuple[str, str]:
        task = next(e["resource"] for e in answer.json["entry"] if e["resource"]["resourceType"] == "Task")
        return task["status"], task["businessStatus"]["coding"][0]["code"]
    assert task_status(r) == task_status(f)
    assert task_id not in r.get_data(as_text=True)
    # The owner's own conflicting resubmission still names its Task.
    changed = example()
    changed["entry"][0]["resource"]["id"] = "changed-header"
    own = api.post("/fhir/$process-message", changed)
    assert own.status_code == 409 and task_id in own.get_data(as_text=True)


def test_the_worker_refuses_production_without_secrets_in_one_line(tmp_path: Path) -> None:
    result = CliRunner(env=_env(tmp_path, ADAPTER_ENV="production")).invoke(cli, ["worker", "--once"])
    assert result.exit_code != 0 and "ADAPTER_AUDIT_KEY_PATH" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_db_upgrade_needs_no_secrets_in_production(tmp_path: Path) -> None:
    """The schema can be brought up before the secrets are in place; nothing is generated."""
    result = CliRunner(env=_env(tmp_path, ADAPTER_ENV="production")).invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["adapter.db"]


def test_an_internal_error_is_logged_by_type_and_place_never_by_its_text(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A 500 must be diagnosable from the log (types and code locations, causes included) without
    the exception's text, which may carry patient data."""
    import logging

    from adapter.flows import submit as submit_flow

    def broken(*_: Any, **__: Any) -> None:
        try:
            raise ValueError("191212121212 Tolvan Tolvansson")
        except ValueError as exc:
            raise RuntimeError("patient 191212121212") from exc

    monkeypatch.setattr(submit_flow, "validate_submission", broken)
    with caplog.at_level(logging.ERROR, logger="adapter.api"):
        r = api.submit_example()
    assert r.status_code == 500 and r.json["resourceType"] == "OperationOutcome"
    [line] = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("internal error")]
    assert line.startswith("internal error: RuntimeError at ") and "caused by ValueError" in line
    assert "test_service_hardening.py" in line and "broken" in line  # where, innermost first
    assert "191212121212" not in line and "Tolvan" not in line
