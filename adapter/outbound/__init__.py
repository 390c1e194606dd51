"""Outbound: the submission Bundle to municipal XML (with the assessment summary), and HTML/PDF views.

Takes: a validated submission Bundle and an outbound mapping from ``mappings/outbound/``.
Gives: an XML document valid against the municipal XSD (``schemas/``); a readable rendering.
No IO, no Flask, no database.
"""

from adapter.outbound.assessment import Assessment, assess
from adapter.outbound.html import render_html, render_pdf
from adapter.outbound.municipal import render_municipal_xml
from adapter.outbound.reader import MunicipalDocument, read_municipal_xml, read_verified

__all__ = ["Assessment", "MunicipalDocument", "assess", "read_municipal_xml", "read_verified", "render_html",
           "render_municipal_xml", "render_pdf"]
