"""Processes the HTTP and fault runs start: gunicorn with the adapter, scratch databases.

Everything listens on 127.0.0.1 only, on a free port, and is stopped by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, *, seconds: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def wait_tcp(port: int, *, seconds: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (a server that does not answer HTTP)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {seconds} s")


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, seconds: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2, log: Path | None = None,
             config: Path | None = None) -> Iterator[str]:
    """The adapter under gunicorn; yields its base URL (``http://127.0.0.1:PORT``)."""
    with gunicorn_process(env, workers=workers, log=log, config=config) as (base, _proc):
        yield base


@contextlib.contextmanager
def gunicorn_process(env: dict[str, str], *, workers: int = 2, log: Path | None = None,
                     config: Path | None = None, cpus: str | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`gunicorn`, yielding the master process too. With ``config`` (``deploy/gunicorn.conf.py``)
    the file decides the workers, their class and threads. With ``cpus`` (``"0"``, ``"0,1"``) the
    master and its workers run on those cores only (``taskset``: the workers inherit the affinity)."""
    port = free_port()
    sizing = ["-c", str(config)] if config else ["--workers", str(workers)]
    pin = ["taskset", "-c", cpus] if cpus else []
    cmd = [*pin, str(BIN / "gunicorn"), *sizing, "--bind", f"127.0.0.1:{port}",
           "--chdir", str(ROOT), "--graceful-timeout", "5", "--timeout", "60", "adapter.api:create_app()"]
    if log:
        with open(log, "ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=out)
    else:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/fhir/metadata", proc=proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop(proc)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children (gunicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    family = {pid}
    for _ in range(3):  # master, workers, anything they started
        family |= {p for p, (parent, _) in stats.items() if parent in family}
    return sum(stats[p][1] for p in family if p in stats)


def _pg_admin(admin_url: str):  # type: ignore[no-untyped-def]
    import psycopg

    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True, connect_timeout=3)


@contextlib.contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh database beside ``admin_url`` for one run, dropped afterwards; yields its URL."""
    name = f"lisn_bench_{uuid.uuid4().hex[:10]}"
    with _pg_admin(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin(admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def terminate_backends(admin_url: str, database: str) -> int:
    """Kill every server process connected to ``database`` (a database restart, as clients see it)."""
    with _pg_admin(admin_url) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall()
    return len(rows)
