"""Installs are reproducible: ``constraints.txt`` pins every dependency, and the signing stack in
use is the pinned one (signing relies on signxml's private hooks and error texts)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line):
            found[_name(m.group(1))] = m.group(2)
    return found


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"]) + [d for ds in project["optional-dependencies"].values() for d in ds]
    names = {_name(re.split(r"[<>=!\[; ]", d, maxsplit=1)[0]) for d in declared}
    assert sorted(names - set(_pins())) == []


@pytest.mark.parametrize("package", ["signxml", "lxml", "cryptography"])
def test_the_signing_stack_is_the_pinned_one(package: str) -> None:
    assert metadata.version(package) == _pins()[package], \
        f"{package} {metadata.version(package)} is installed, constraints.txt pins {_pins()[package]}: " \
        "install with pip install -c constraints.txt -e '.[test]' (or update the pins, README)"
