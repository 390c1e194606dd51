"""STYLE.md §14: ``adapter/`` ships ``py.typed`` and passes ``mypy --strict`` (configured in pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_package_is_marked_typed() -> None:
    assert (ROOT / "adapter" / "py.typed").is_file()


def test_mypy_configuration_is_strict() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"] == ["adapter"]


@pytest.mark.slow  # 15-20 s from a cold cache
def test_adapter_passes_mypy_strict() -> None:
    mypy_api = pytest.importorskip(
        "mypy.api", reason="mypy is not installed (pip install -e '.[test]' brings it); the typing check cannot run")
    # The cache (git-ignored) makes repeated runs take well under a second; a cold run takes a few.
    stdout, stderr, status = mypy_api.run([
        "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(ROOT / ".mypy_cache"),
        "--no-error-summary", "--show-error-codes",
        str(ROOT / "adapter"),
    ])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], f"{len(errors)} mypy error(s):\n" + "\n".join(errors)
    assert status == 0, stdout + stderr
