"""The processes of a fault run: the reference receiver, the chaos proxy, delivery workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bench import servers

RECEIVER = servers.ROOT / "examples" / "receiver" / "receiver.py"


def _popen(cmd: list[str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    # The child keeps its own copy of the log descriptor; ours is closed at once.
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]


def start_receiver(db: Path, trust: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = _popen([sys.executable, str(RECEIVER), "--db", str(db), "--trust", str(trust), "--port", str(port)], log)
    servers.wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    return proc


def start_chaos(port: int, upstream: str, *, seed: int, stall_seconds: float, log: Path,
                fail_before: float = 0.1, fail_after: float = 0.1, stall: float = 0.05) -> subprocess.Popen[bytes]:
    proc = _popen([sys.executable, "-m", "bench.fault.chaos", "--listen", str(port), "--upstream", upstream,
                   "--seed", str(seed), "--stall-seconds", str(stall_seconds),
                   "--fail-before", str(fail_before), "--fail-after", str(fail_after), "--stall", str(stall)],
                  log, cwd=servers.ROOT)
    servers.wait_http(f"http://127.0.0.1:{port}/_chaos", proc=proc)
    return proc


def start_tarpit(port: int, log: Path, *, byte_interval: float = 0.5) -> subprocess.Popen[bytes]:
    proc = _popen([sys.executable, "-m", "bench.fault.tarpit", "--listen", str(port),
                   "--byte-interval", str(byte_interval)], log, cwd=servers.ROOT)
    servers.wait_tcp(port, proc=proc)
    return proc


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return _popen([str(servers.BIN / "adapter"), "worker", "--poll", "0.1", "--batch", "5"], log,
                  env={**os.environ, **env}, cwd=servers.ROOT)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
