"""The direct forms these tests compile get their generated function at once (``codegen.AFTER = 0``),
so that the oracle, mutation and codegen tests hold the generated code to fhirpathpy from the first
evaluation. Shipped, a form runs its closures for its first ``codegen.AFTER`` evaluations
(``test_codegen_tiers.py`` holds that path to the same results)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapter.fhirpath import codegen


@pytest.fixture(autouse=True)
def _generated_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(codegen, "AFTER", 0)
    yield
