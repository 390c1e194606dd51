"""Collects conformance cases kept as data: every ``manifest.yaml`` below this folder.

Each case of ``tests/cases/validation/manifest.yaml`` becomes one test item named after the
case (``pytest tests/cases -k enable-when-exists``): the input file is validated with
``adapter.validation.validate`` against a registry holding only the case's ``ig`` files, and the
issues found must be exactly the expected ``{severity, expression, id}`` (as a multiset; the
"all OK" information issue does not count).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter import errors
from adapter.fhir.registry import Registry
from adapter.validation import validate


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name == "manifest.yaml" and file_path.parent.name == "validation":
        return ValidationManifest.from_parent(parent, path=file_path)
    return None


class ValidationManifest(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        manifest = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        for case in manifest["cases"]:
            yield ValidationCase.from_parent(self, name=case["name"], case=case)


def found_issues(oo: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    return Counter((i["severity"], ", ".join(i.get("expression") or []), errors.message_id_of(i) or "")
                   for i in oo["issue"] if errors.message_id_of(i) != "ALL_OK")


class ValidationCase(pytest.Item):
    def __init__(self, *, case: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        base = self.path.parent
        registry = Registry()
        for ig in self.case.get("ig") or []:
            registry.load_path(base / ig)
        resource = json.loads((base / self.case["input"]).read_text(encoding="utf-8"))
        oo = validate(resource, registry)
        expected = Counter((e["severity"], e["expression"], e["id"]) for e in self.case.get("expect") or [])
        found = found_issues(oo)
        if found != expected:
            raise CaseMismatch(expected, found)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, CaseMismatch):
            exp, got = excinfo.value.args
            return (f"case {self.name}: {self.case.get('doc')}\n"
                    f"  missing:    {sorted((exp - got).elements())}\n  unexpected: {sorted((got - exp).elements())}")
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"validation case {self.name}"


class CaseMismatch(AssertionError):
    """The issues found differ from the expected ones."""
