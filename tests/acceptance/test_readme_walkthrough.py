"""The README's walkthrough runs as written: its shell blocks (each after a ``<!-- walkthrough -->``
line) are extracted from README.md, so the README cannot drift, and run in order in one bash
(``set -euo pipefail``) in a fresh copy of the repository's tracked files. The run must succeed,
print no traceback, log one line per delivery from ``adapter worker``, and leave nothing outside
``var/`` (ignored by git)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARK = "<!-- walkthrough -->"

pytestmark = pytest.mark.slow  # a service, a receiver and a worker, as processes over HTTP


def walkthrough_blocks(readme: str) -> list[str]:
    """The fenced ``sh`` blocks that follow a walkthrough mark, in order."""
    return [m.group(1) for m in re.finditer(re.escape(MARK) + r"\s*\n```sh\n(.*?)\n```", readme, re.S)]


def test_the_marks_are_found() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = walkthrough_blocks(readme)
    assert len(blocks) == readme.count(MARK) >= 5, "every mark is followed by a ```sh block"
    assert any("adapter worker" in b for b in blocks) and any("--mode pull" in b for b in blocks)


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        return [p for p in out.decode("utf-8").split("\0") if p and (ROOT / p).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything but the build output
        skip = {".git", ".venv", "var", "dist", "build", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    script = "\n".join(walkthrough_blocks((ROOT / "README.md").read_text(encoding="utf-8")))
    repo = tmp_path / "repo"
    tracked = _tracked_files()
    for rel in tracked:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    before = {str(p.relative_to(repo)) for p in repo.rglob("*")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTER_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PORT=str(_free_port()), RECEIVER_PORT=str(_free_port()), PYTHONUNBUFFERED="1")
    # Output to files, not pipes: a background process that outlives the script would hold a pipe open.
    with (tmp_path / "out.txt").open("w") as stdout, (tmp_path / "err.txt").open("w") as stderr:
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=repo, env=env,
                                stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            proc.wait(timeout=400)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the service and receiver, had `kill %1 %2` not run
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    out = (tmp_path / "out.txt").read_text(encoding="utf-8")
    err = (tmp_path / "err.txt").read_text(encoding="utf-8")
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}"
    assert "Traceback" not in out + err
    # adapter worker: one line per delivery, the push and the pull.
    assert re.search(r"outbox message \d+ to 0180: accepted", err), err[-3000:]
    assert re.search(r"outbox message \d+ to 1480: available for pull", err), err[-3000:]
    assert "OK [LISN_SIG_VALID]" in out and "audit chain intact" in out
    assert '"delivered"' in out or "delivered" in out
    left = {str(p.relative_to(repo)) for p in repo.rglob("*")} - before
    outside = sorted(p for p in left if not (p == "var" or p.startswith("var/") or "__pycache__" in p))
    assert not outside, f"the walkthrough leaves files outside var/: {outside}"
    assert (repo / "var" / "intyg.pdf").read_bytes().startswith(b"%PDF")
