"""LISN adapter: the Swedish medical certificate to the social welfare board, as FHIR.

The library API, in flow order (DESIGN §4). Names are loaded on first use, so that
``import adapter`` (and every ``adapter`` command) stays cheap; ``__all__`` is pinned by
``tests/unit/core/test_public_api.py``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # errors and configuration
    "AdapterError": "adapter.errors",
    "status_for": "adapter.errors",  # status_for(error): the HTTP status of an AdapterError (errors.HTTP)
    "to_outcome": "adapter.errors",
    "Settings": "adapter.settings",
    # FHIR data
    "Registry": "adapter.fhir.registry",
    "default_registry": "adapter.fhir.registry",
    "Submission": "adapter.fhir.submission",
    "build_package": "adapter.fhir.package",
    # the stages
    "map_export": "adapter.inbound",
    "validate": "adapter.validation",
    "validate_bytes": "adapter.validation",
    "decide_consent": "adapter.consent",
    "assess": "adapter.outbound",
    "render_municipal_xml": "adapter.outbound",
    "render_html": "adapter.outbound",
    "render_pdf": "adapter.outbound",
    "sign_document": "adapter.signing",
    "verify_document": "adapter.signing",
    "verify_provenance_signatures": "adapter.signing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adapter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
