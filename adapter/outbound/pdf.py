"""The certificate as PDF with fpdf2: the same view data as the HTML page, laid out for A4.

fpdf2 is pure Python (no Cairo/Pango/wkhtmltopdf); a TTF font with Swedish letters is embedded
(DejaVu Sans from Debian's ``fonts-dejavu-core`` by default). Without a TTF the core Helvetica font
is used, which covers Latin-1 (å, ä, ö included) but not every character; see docs/outbound.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

ACCENT = (11, 92, 173)
MUTED = (91, 103, 118)


class _Pdf(FPDF):
    def __init__(self, font: Path | None) -> None:
        super().__init__(format="A4")
        self.family = "Helvetica"
        if font is not None:
            self.add_font("Body", "", str(font))
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.family = "Body"
        self.set_margins(15, 14, 15)
        self.set_auto_page_break(True, 14)

    def style(self, size: float, bold: bool = False, color: tuple[int, int, int] = (29, 39, 51)) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.set_text_color(*color)

    def line_text(self, text: str, size: float = 9.5, bold: bool = False,
                  color: tuple[int, int, int] = (29, 39, 51), indent: float = 0) -> None:
        self.style(size, bold, color)
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.epw - indent, size * 0.48, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.line_text(text.upper(), 10.5, True, ACCENT)
        self.ln(0.5)


def build_pdf(view: dict[str, Any], *, font: Path | None) -> bytes:
    pdf = _Pdf(font)
    pdf.set_title("Läkarintyg till socialnämnden")
    pdf.add_page()
    _header(pdf, view)
    _summary(pdf, view["summary"], view["signature"])
    _parties(pdf, view)
    pdf.heading("Intygets svar")
    for section in view["sections"]:
        _section(pdf, section, 0)
    return bytes(pdf.output())


def _header(pdf: _Pdf, view: dict[str, Any]) -> None:
    h, p = view["header"], view["patient"]
    pdf.line_text("Läkarintyg till socialnämnden", 15, True)
    who = (f"{p['namn']}, " if p["namn"] else "") + f"{p['typ']} {p['personId']}"
    pdf.line_text(who + ("  SKYDDAD IDENTITET" if p["skyddad"] else ""), 10.5, True)
    status = "" if h["status"] == "original" else f"{h['statusText']} {h['ersatter'] or ''} · "
    pdf.line_text(f"{status}Signerat {h['signerat']} · mall {h['mall']} · intygs-id {h['intygsId']}", 8.5,
                  color=MUTED)


def _summary(pdf: _Pdf, s: dict[str, Any], sig: dict[str, Any]) -> None:
    pdf.heading("Bedömningsstöd – vad intyget betyder för aktivitetskravet")
    for line in s["iKorthet"]:
        pdf.line_text(line, 10.5, True)
    top = "–" if s["maxTimmar"] is None else f"{s['maxTimmar']} av 40 tim/v"
    pdf.line_text(f"Högsta möjliga deltagande i en aktivitet: {top}   ·   Kvarvarande arbetsförmåga: "
                  f"{s['procent']} %", 10.5, True)
    pdf.line_text(f"Intyget gäller till och med {s['giltigt']}   ·   Följ upp senast {s['uppfoljning']}", 10.5, True)
    pdf.ln(1)
    for a in s["aktiviteter"]:
        hours = "?" if a["timmar"] is None else str(a["timmar"])
        pdf.line_text(f"{a['typ']}: {a['deltagandeText']} – {hours} timmar/vecka", indent=3)
    if s["ejBedomda"]:
        pdf.line_text("Ej bedömda: " + ", ".join(s["ejBedomda"]), 9, color=MUTED, indent=3)
    pdf.ln(1)
    pdf.line_text("Signaler: " + ("; ".join(s["aktivaFlaggor"]) or "inga särskilda"), 9.5, True)
    for remark in s["anmarkningar"]:
        pdf.line_text("Kvalitetsanmärkning: " + remark, 9.5, color=(138, 75, 0))
    pdf.line_text("Signatur: " + sig["text"], 9, color=MUTED)


def _parties(pdf: _Pdf, view: dict[str, Any]) -> None:
    i, r = view["issuer"], view["recipient"]
    pdf.heading("Utfärdare och mottagare")
    pdf.line_text(f"{i['lakare']} ({i['lakareHsa']}), {i['vardenhet']}, {i['vardgivare']}")
    pdf.line_text(f"{i['adress']}" + (f" · tel {i['telefon']}" if i["telefon"] else ""), 9, color=MUTED)
    pdf.line_text(f"Mottagare: {r['namn']} (kommunkod {r['kommunkod']})")


def _section(pdf: _Pdf, s: dict[str, Any], depth: int) -> None:
    indent = depth * 4
    if depth and not s["children"]:
        pdf.line_text(f"{s['text']}: " + ", ".join(s["answers"]), 9.5, indent=indent)
        return
    if s["first"]:
        pdf.line_text(s["text"], 8.5, color=MUTED, indent=indent)
    for answer in s["answers"]:
        pdf.line_text(answer, 9.5, indent=indent)
    for child in s["children"]:
        _section(pdf, child, depth + 1)
    if s["children"]:
        pdf.ln(0.8)
