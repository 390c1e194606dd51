"""Fixtures for the profile-validation tests: registries built from data files."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.fhir.registry import Registry, default_registry

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def fixtures_registry() -> Registry:
    reg = Registry()
    reg.load_path(HERE / "fixtures")
    return reg


@pytest.fixture(scope="session")
def lisn_registry() -> Registry:
    return default_registry()
