"""LISN adapter: the Swedish medical certificate to the social welfare board, as FHIR.

The library API is re-exported here; ``__all__`` is pinned by a test.
"""

from adapter.errors import AdapterError, status_for, to_outcome
from adapter.fhir.registry import Registry, default_registry

__all__ = [
    "AdapterError",
    "Registry",
    "default_registry",
    "status_for",
    "to_outcome",
]
