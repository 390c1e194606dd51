"""Readable renderings of a municipal XML document: HTML (Jinja2, autoescaped) and PDF (fpdf2).

Both render what the municipality receives: a Bundle is first turned into the municipal XML and
read back. A signed document is rendered from its verification only (the signed content, see
``reader.py``); its signed bytes alone are refused. PDF uses fpdf2 (pure Python, no system libraries) with the DejaVu Sans TTF font
(Debian ``fonts-dejavu-core``, or any TTF passed in) so that å, ä and ö render; see docs/outbound.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from adapter.fhir.registry import Registry
from adapter.outbound.municipal import render_municipal_xml
from adapter.outbound.reader import MunicipalDocument, read_municipal_xml, read_verified
from adapter.outbound.view import certificate_view
from adapter.signing.xmldsig import Verification

Source = bytes | str | dict[str, Any] | Verification
"""What the views render: a submission Bundle, an unsigned municipal XML document, or the
:class:`~adapter.signing.Verification` of a signed one (``verify_document(xml, trust=...)``)."""


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("adapter.outbound", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _document(source: Source, registry: Registry | None) -> MunicipalDocument:
    if isinstance(source, Verification):
        return read_verified(source)  # a failed verification raises SigningError: nothing to show
    if isinstance(source, dict):
        source = render_municipal_xml(source, registry=registry)
    return read_municipal_xml(source.encode("utf-8") if isinstance(source, str) else source)


def _view(source: Source, registry: Registry | None) -> dict[str, Any]:
    doc = _document(source, registry)
    return certificate_view(doc, registry=registry, signature_status=doc.verification)


def render_html(source: Source, *, registry: Registry | None = None) -> str:
    """The certificate as one HTML page in Swedish: assessment summary on top, then every answer.

    ``source`` is a Bundle, unsigned XML, or the valid :class:`~adapter.signing.Verification` of a
    signed document (shown with its signature status, from the signed content only).
    """
    return _environment().get_template("certificate.html.j2").render(**_view(source, registry))


FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


def find_font() -> Path | None:
    return next((p for p in FONT_CANDIDATES if p.is_file()), None)


def render_pdf(source: Source, *, registry: Registry | None = None, font: Path | None = None) -> bytes:
    """The same content as :func:`render_html` as a PDF (A4)."""
    from adapter.outbound.pdf import build_pdf

    return build_pdf(_view(source, registry), font=font or find_font())
