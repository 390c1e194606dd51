"""The processes of a fault run: the reference receiver, the chaos proxy, delivery workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench import servers

RECEIVER = servers.ROOT / "examples" / "receiver" / "receiver.py"


def _popen(cmd: list[str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    # The child keeps its own copy of the log descriptor; ours is closed at once.
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log {log} unreadable: {exc})"


def _started(proc: subprocess.Popen[bytes], log: Path, wait: Callable[[], None]) -> subprocess.Popen[bytes]:
    """``proc`` once ``wait`` saw it answer; if it exited or never answered, an error that quotes the
    end of its log (what it said on the way out), the process stopped."""
    try:
        wait()
    except (RuntimeError, TimeoutError) as exc:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise RuntimeError(f"{exc}; the end of {log}:\n{_tail(log)}") from exc
    return proc


def start_receiver(db: Path, trust: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = _popen([sys.executable, str(RECEIVER), "--db", str(db), "--trust", str(trust), "--port", str(port)], log)
    return _started(proc, log, lambda: servers.wait_http(f"http://127.0.0.1:{port}/health", proc=proc))


def start_chaos(port: int, upstream: str, *, seed: int, stall_seconds: float, log: Path,
                fail_before: float = 0.1, fail_after: float = 0.1, stall: float = 0.05) -> subprocess.Popen[bytes]:
    proc = _popen([sys.executable, "-m", "bench.fault.chaos", "--listen", str(port), "--upstream", upstream,
                   "--seed", str(seed), "--stall-seconds", str(stall_seconds),
                   "--fail-before", str(fail_before), "--fail-after", str(fail_after), "--stall", str(stall)],
                  log, cwd=servers.ROOT)
    return _started(proc, log, lambda: servers.wait_http(f"http://127.0.0.1:{port}/_chaos", proc=proc))


def start_tarpit(port: int, log: Path, *, byte_interval: float = 0.5) -> subprocess.Popen[bytes]:
    proc = _popen([sys.executable, "-m", "bench.fault.tarpit", "--listen", str(port),
                   "--byte-interval", str(byte_interval)], log, cwd=servers.ROOT)
    return _started(proc, log, lambda: servers.wait_tcp(port, proc=proc))


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return _popen([str(servers.BIN / "adapter"), "worker", "--poll", "0.1", "--batch", "5"], log,
                  env={**os.environ, **env}, cwd=servers.ROOT)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
