"""Outbound: the submission Bundle to municipal XML (with the assessment summary), and HTML/PDF views.

Takes: a validated submission Bundle and an outbound mapping from ``mappings/outbound/``.
Gives: an XML document valid against the municipal XSD; a readable rendering.
No IO, no Flask, no database.
"""
