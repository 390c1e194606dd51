"""The service commands on the embedded default (SQLite in ADAPTER_DATA_DIR)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from service_helpers import EXAMPLE

from adapter.cli import cli


def _runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"ADAPTER_DATA_DIR": str(tmp_path), "ADAPTER_DATABASE_URL": ""})


def test_register_submit_and_audit_via_cli(tmp_path: Path) -> None:
    run = _runner(tmp_path)
    assert run.invoke(cli, ["db", "upgrade"]).exit_code == 0
    added = run.invoke(cli, ["clients", "add", "journal", "--role", "sender", "--care-unit", "SE2321000016-15CQ"])
    assert added.exit_code == 0 and added.output.startswith("lisn_")
    token = added.output.strip()
    assert run.invoke(cli, ["recipients", "add", "0180", "--name", "Socialnämnden i Stockholms stad"]).exit_code == 0
    listed = run.invoke(cli, ["clients", "list"])
    assert listed.output == "journal\tsender\tSE2321000016-15CQ\n" and token not in listed.output
    assert run.invoke(cli, ["recipients", "list"]).output.startswith("0180\tSocialnämnden i Stockholms stad\tpull")

    from adapter.api import create_app
    from adapter.settings import Settings

    app = create_app({"SETTINGS": Settings.from_env({"ADAPTER_DATA_DIR": str(tmp_path)})})
    r = app.test_client().post("/fhir/$process-message", data=EXAMPLE.read_bytes(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    assert r.status_code == 200
    app.extensions["lisn"].store.engine.dispose()

    verified = run.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0 and "intact: 1 rows" in verified.output
    extract = json.loads(run.invoke(cli, ["audit", "extract", "--patient", "191212121212"]).output)
    assert [e["action"] for e in extract["entries"]] == ["submit"]

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'adapter.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET outcome = 'rejected'"))
    engine.dispose()
    broken = run.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1 and "row 1" in broken.output


def test_token_rotation_and_usage_errors(tmp_path: Path) -> None:
    run = _runner(tmp_path)
    first = run.invoke(cli, ["clients", "add", "kommun", "--role", "municipality", "--kommunkod", "0180"]).output
    second = run.invoke(cli, ["clients", "token", "kommun"])
    assert second.exit_code == 0 and second.output != first
    assert run.invoke(cli, ["clients", "token", "nobody"]).exit_code == 2
    assert run.invoke(cli, ["clients", "add", "x", "--role", "sender"]).exit_code == 2
    assert run.invoke(cli, ["clients", "add", "kommun", "--role", "admin"]).exit_code == 1
    assert run.invoke(cli, ["recipients", "add", "12", "--name", "x"]).exit_code == 2


@pytest.mark.slow  # a real server process
def test_serve_runs_the_embedded_default(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import requests

    run = _runner(tmp_path)
    token = run.invoke(cli, ["clients", "add", "j", "--role", "sender", "--care-unit", "SE2321000016-15CQ"]).output.strip()
    run.invoke(cli, ["recipients", "add", "0180", "--name", "Stockholm"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, ADAPTER_DATA_DIR=str(tmp_path), ADAPTER_DATABASE_URL="")
    env.pop("ADAPTER_SERVICE_BASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", "from adapter.cli import main; main()", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/fhir"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/metadata", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        r = requests.post(f"{base}/$process-message", data=EXAMPLE.read_bytes(), timeout=30,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
        assert r.status_code == 200 and r.headers["Location"].startswith(f"{base}/Task/")
        task = requests.get(r.headers["Location"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert task.json()["businessStatus"]["coding"][0]["code"] == "consent-ok"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
