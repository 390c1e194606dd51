"""The layers' import rules (pyproject.toml ``[tool.importlinter]``, docs/architecture.md) hold.

``lint-imports`` (import-linter) reads the import graph without running the code. The second
test shows the check can fail: the same kind of contract on a small package that breaks it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]' brings import-linter")
    return found


def test_every_contract_is_kept() -> None:
    done = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    names = [c["name"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
             ["contracts"]]
    assert len(names) >= 7 and all(f"{n} KEPT" in " ".join(done.stdout.split()) for n in names), done.stdout


def test_a_stage_that_imports_storage_breaks_its_contract(tmp_path: Path) -> None:
    pkg = tmp_path / "fakeadapter"
    (pkg / "store").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "store" / "__init__.py").write_text("")
    (pkg / "validation.py").write_text("from fakeadapter.store import db\n")
    (pkg / "store" / "db.py").write_text("")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = fakeadapter\n\n[importlinter:contract:stages]\n"
        "name = Stages import no storage\ntype = forbidden\nsource_modules = fakeadapter.validation\n"
        "forbidden_modules = fakeadapter.store\n")
    done = subprocess.run([_lint_imports(), "--no-cache", "--config", str(tmp_path / ".importlinter")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Stages import no storage BROKEN" in done.stdout
    assert "fakeadapter.validation -> fakeadapter.store" in done.stdout
