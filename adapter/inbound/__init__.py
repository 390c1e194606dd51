"""Inbound: EHR exports to the FHIR submission Bundle, through declarative mapping files.

Takes: an EHR export (XML or JSON bytes) and a mapping file from ``mappings/inbound/``.
Gives: a submission message Bundle (parsed JSON) and a mapping report.
No IO, no Flask, no database.
"""
