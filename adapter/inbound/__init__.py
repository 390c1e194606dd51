"""Inbound: EHR exports to the FHIR submission Bundle, through declarative mapping files.

Takes: an EHR export (XML or JSON bytes) and a mapping file from ``mappings/inbound/``.
Gives: a submission message Bundle (parsed JSON) and a mapping report (OperationOutcome).
No IO, no Flask, no database.

The mapping file format is documented in ``docs/mappings.md``; the engine is generic, so a
new source format is a new mapping file (plus ConceptMaps in ``mappings/codes/``), not code.
"""

from adapter.inbound.export import convert_export, known_formats, map_export, run_mapping
from adapter.inbound.mapping import load_mapping

__all__ = ["convert_export", "known_formats", "load_mapping", "map_export", "run_mapping"]
