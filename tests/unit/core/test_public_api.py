"""The library API is pinned: a change to it is a deliberate change to this list."""

from __future__ import annotations

import pytest

import adapter

PINNED = [
    "AdapterError", "Registry", "Settings", "Submission", "assess", "build_package", "decide_consent",
    "default_registry", "map_export", "render_html", "render_municipal_xml", "render_pdf",
    "sign_document", "status_for", "to_outcome", "validate", "validate_bytes", "verify_document",
    "verify_provenance_signatures",
]


def test_all_is_pinned() -> None:
    assert adapter.__all__ == PINNED


@pytest.mark.parametrize("name", PINNED)
def test_every_export_resolves(name: str) -> None:
    assert getattr(adapter, name) is not None
    assert name in dir(adapter)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        adapter.no_such_thing  # noqa: B018


def test_validate_through_the_package_api() -> None:
    bundle = adapter.Submission  # resolved lazily
    assert bundle.__name__ == "Submission"
    oo = adapter.validate({"resourceType": "QuestionnaireResponse", "status": "completed"})
    assert oo["resourceType"] == "OperationOutcome"
