"""``adapter demo`` from a non-editable install (issue 16): the wheel carries what the demo needs
(profiles, mappings, schemas and the reference receiver under ``adapter/_data``), and the demo runs
from a folder that is not the checkout.

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh venv that sees
the test environment's site-packages for the dependencies only (a ``.pth`` path line: the
editable install's own finder there is not loaded), so the ``adapter`` the demo runs is the wheel's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # builds a wheel, makes a venv, runs the demo's processes


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(map(str, argv))} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]


def test_demo_runs_from_a_non_editable_install(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(ROOT)], timeout=600)
    wheel = next(wheels.glob("lisn_adapter-*.whl"))

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)], timeout=300)

    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADAPTER_", "PYTHON"))}
    where = _run([str(python), "-c", "import adapter, adapter.data as d; print(adapter.__file__); "
                  "print(d.data_dir('examples'))"], cwd=run_dir, env=env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), f"not the installed wheel: {where}"

    demo = _run([str(venv / "bin" / "adapter"), "demo", "--data-dir", str(run_dir / "demo")], cwd=run_dir, env=env,
                timeout=600)
    assert "Demo done" in demo.stdout and "Traceback" not in demo.stdout + demo.stderr
    assert (run_dir / "demo" / "received-0180.xml").is_file() and (run_dir / "demo" / "pulled-1480.xml").is_file()
    assert sorted(p.name for p in run_dir.iterdir()) == ["demo"]  # nothing written beside it
