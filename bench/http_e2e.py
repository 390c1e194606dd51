"""End to end over HTTP: the adapter under gunicorn as shipped (``deploy/gunicorn.conf.py``) on
SQLite and on PostgreSQL, driven by :mod:`bench.loadgen` in its own process at several
concurrency levels.

Each request is the example submission with a fresh certificate id and a patient of its own (a
synthetic personnummer: one patient for every request would queue them all on the per-patient
consent lock, a load no national service sees), posted to ``/fhir/$process-message`` by a
registered sender; the baseline is ``GET /fhir/metadata`` through the same gunicorn and Flask
stack at the same concurrency, so the ratio says what the pipeline costs on top of the
framework. Each level also records the server's CPU seconds per submission (master and workers,
from ``/proc``) and the load average: on a shared machine the rate is bounded by the CPU share
the run gets, the CPU per submission much less.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench import certificates, provision, servers

SUBMIT_PATH = "/fhir/$process-message"
SHIPPED_CONFIG = servers.ROOT / "deploy" / "gunicorn.conf.py"
EXAMPLE_PATIENT = "191212121212"  # the example's personnummer, replaced per request
BASELINE_PATH = "/fhir/metadata"


def _loadgen(url: str, body: Path, *, headers: dict[str, str], placeholders: list[str], concurrency: int,
             requests: int, seconds: float, method_get: bool = False, patient: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.loadgen", "--url", url, "--body", str(body),
           "--concurrency", str(concurrency), "--requests", str(requests), "--seconds", str(seconds)]
    if method_get:
        cmd.append("--get")
    if patient:
        cmd += ["--patient", patient]
    for name, value in headers.items():
        cmd += ["--header", f"{name}: {value}"]
    for ph in placeholders:
        cmd += ["--placeholder", ph]
    out = subprocess.run(cmd, cwd=servers.ROOT, capture_output=True, check=True, timeout=seconds + 120)
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def prepared(env: dict[str, str], work: Path) -> tuple[Path, list[str], dict[str, str]]:
    """A registered sender in ``env``'s deployment, and what each submission is made of: the body
    file, its id placeholders and the request headers."""
    token = provision.prepare(env)
    body = work / "submission.json"
    body.write_bytes(certificates.example_bytes())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json",
               "Accept": "application/fhir+json"}
    return body, certificates.id_placeholders(), headers


def warm_workers(base: str, body: Path, headers: dict[str, str], placeholders: list[str]) -> None:
    """The 12 submissions sent before any measured level (imports, connection pools)."""
    _loadgen(base + SUBMIT_PATH, body, headers=headers, placeholders=placeholders, concurrency=4,
             requests=12, seconds=10, patient=EXAMPLE_PATIENT)


def _one_database(db: str, env: dict[str, str], work: Path, *, levels: tuple[int, ...], requests: int,
                  seconds: float) -> list[dict[str, Any]]:
    body, placeholders, headers = prepared(env, work)
    runs = []
    with servers.gunicorn_process(env, log=work / f"gunicorn-{db}.log", config=SHIPPED_CONFIG) as (base, proc):
        warm_workers(base, body, headers, placeholders)
        for c in levels:
            load, cpu = os.getloadavg()[0], servers.tree_cpu_seconds(proc.pid)
            submit = _loadgen(base + SUBMIT_PATH, body, headers=headers, placeholders=placeholders,
                              concurrency=c, requests=requests, seconds=seconds, patient=EXAMPLE_PATIENT)
            submit["server_cpu_ms_per_request"] = (servers.tree_cpu_seconds(proc.pid) - cpu) / max(submit["requests"], 1) * 1000
            submit["loadavg_at_start"] = load
            baseline = _loadgen(base + BASELINE_PATH, body, headers={"Accept": "application/fhir+json"},
                                placeholders=[], concurrency=c, requests=requests, seconds=seconds, method_get=True)
            run = {"submit": submit, "baseline": baseline,
                   "ratio_vs_baseline": submit["per_second"] / baseline["per_second"]}
            if any(code.startswith("5") for code in submit["status_codes"]):
                # What the server logged for them (types and code locations, never texts: adapter.errors.where)
                run["server_errors"] = server_errors(work / f"gunicorn-{db}.log")
            runs.append(run)
    return runs


def server_errors(log: Path, limit: int = 20) -> list[str]:
    """The server's distinct ``internal error`` lines in ``log``, the most frequent first, with counts."""
    counts = Counter(line.split("internal error: ", 1)[1].strip()
                     for line in log.read_text("utf-8", "replace").splitlines() if "internal error: " in line)
    return [f"{n}x {line}" for line, n in counts.most_common(limit)]


def http(*, quick: bool, postgres_url: str | None) -> dict[str, Any]:
    levels, requests, seconds = ((1, 4), 20, 10.0) if quick else ((1, 4, 16), 400, 45.0)
    result: dict[str, Any] = {"status": "ok", "submit_path": SUBMIT_PATH, "baseline_path": BASELINE_PATH,
                              "server": "deploy/gunicorn.conf.py", "levels": list(levels), "databases": {}}
    with tempfile.TemporaryDirectory(prefix="lisn-bench-") as tmp:
        work = Path(tmp)
        try:
            provision.check_available()
        except provision.Unavailable as exc:
            return {"status": "unavailable", "reason": str(exc)}
        sqlite_env = provision.environment(data_dir=work / "sqlite")
        result["databases"]["sqlite"] = _one_database("sqlite", sqlite_env, work, levels=levels,
                                                      requests=requests, seconds=seconds)
        if postgres_url:
            try:
                with servers.scratch_postgres(postgres_url) as url:
                    pg_env = provision.environment(data_dir=work / "pg", database_url=url)
                    result["databases"]["postgresql"] = _one_database("postgresql", pg_env, work, levels=levels,
                                                                      requests=requests, seconds=seconds)
            except Exception as exc:  # noqa: BLE001 - no server, no rights: reported, not raised
                result["databases"]["postgresql"] = {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}
    return result
