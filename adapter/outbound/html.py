"""Readable renderings of a municipal XML document: HTML (Jinja2, autoescaped) and PDF (fpdf2).

Both render what the municipality receives: a Bundle is first turned into the municipal XML and
read back. PDF uses fpdf2 (pure Python, no system libraries) with the DejaVu Sans TTF font
(Debian ``fonts-dejavu-core``, or any TTF passed in) so that å, ä and ö render; see docs/outbound.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from adapter.fhir.registry import Registry
from adapter.outbound.municipal import render_municipal_xml
from adapter.outbound.reader import MunicipalDocument, read_municipal_xml
from adapter.outbound.view import certificate_view


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("adapter.outbound", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _document(xml_or_bundle: bytes | str | dict[str, Any], registry: Registry | None) -> MunicipalDocument:
    if isinstance(xml_or_bundle, dict):
        xml_or_bundle = render_municipal_xml(xml_or_bundle, registry=registry)
    raw = xml_or_bundle.encode("utf-8") if isinstance(xml_or_bundle, str) else xml_or_bundle
    return read_municipal_xml(raw)


def render_html(xml_or_bundle: bytes | str | dict[str, Any], *, signature_status: Any = None,
                registry: Registry | None = None) -> str:
    """The certificate as one HTML page in Swedish: assessment summary on top, then every answer.

    ``signature_status`` is a :class:`~adapter.signing.Verification` (or None: shown as not checked).
    """
    view = certificate_view(_document(xml_or_bundle, registry), registry=registry, signature_status=signature_status)
    return _environment().get_template("certificate.html.j2").render(**view)


FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


def find_font() -> Path | None:
    return next((p for p in FONT_CANDIDATES if p.is_file()), None)


def render_pdf(xml_or_bundle: bytes | str | dict[str, Any], *, signature_status: Any = None,
               registry: Registry | None = None, font: Path | None = None) -> bytes:
    """The same content as :func:`render_html` as a PDF (A4)."""
    from adapter.outbound.pdf import build_pdf

    view = certificate_view(_document(xml_or_bundle, registry), registry=registry, signature_status=signature_status)
    return build_pdf(view, font=font or find_font())
