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
BAD = (163, 0, 27)
WARN = (138, 75, 0)
INK = (29, 39, 51)


class _Pdf(FPDF):
    """A4 with a running header (patient, certificate, status) from page 2 and "Sida x av y" on every page."""

    def __init__(self, font: Path | None, view: dict[str, Any]) -> None:
        super().__init__(format="A4")
        self.family = "Helvetica"
        if font is not None:
            self.add_font("Body", "", str(font))
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.family = "Body"
        # The core font's WinAnsi encoding holds Swedish letters and the dashes used here (not Latin-1).
        self.core_fonts_encoding = "windows-1252"
        self.view = view
        self.set_margins(15, 16, 15)
        self.set_auto_page_break(True, 16)

    def normalize_text(self, text: str) -> str:
        """Without a TTF font, a character outside WinAnsi (say "≥" in a free text) becomes "?", not a crash."""
        if not self.is_ttf_font:
            text = text.encode(self.core_fonts_encoding, errors="replace").decode(self.core_fonts_encoding)
        return super().normalize_text(text)

    def header(self) -> None:
        h = self.view["header"]
        if h["void"]:
            self._stamp(h["statusText"])
        if self.page_no() == 1:
            return
        self.set_y(6)
        status = f"{h['statusText']} · " if h["status"] != "original" else ""
        p = self.view["patient"]
        who = (f"{p['namn']}, " if p["namn"] else "") + p["personId"] + (" (skyddade personuppgifter)" if p["skyddad"] else "")
        self.style(8, color=BAD if h["void"] else MUTED)
        self.cell(0, 4, f"Läkarintyg till socialnämnden · {who} · {status}intyg {(h['intygsId'] or '')[:8]}",
                  new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*MUTED)
        self.line(self.l_margin, 11, self.w - self.r_margin, 11)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        self.set_y(-11)
        self.style(8, color=MUTED)
        self.cell(0, 4, f"Sida {self.page_no()} av {{nb}}", align="R")

    def _stamp(self, text: str) -> None:
        """A large diagonal stamp across the page: a voided certificate cannot be mistaken for a valid one."""
        with self.local_context():
            self.set_font(self.family, "B", 72)
            self.set_text_color(240, 190, 198)
            with self.rotation(30, x=self.w / 2, y=self.h / 2):
                self.text(self.w / 2 - self.get_string_width(text) / 2, self.h / 2, text)

    def style(self, size: float, bold: bool = False, color: tuple[int, int, int] = INK) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.set_text_color(*color)

    def line_text(self, text: str, size: float = 9.5, bold: bool = False,
                  color: tuple[int, int, int] = INK, indent: float = 0) -> None:
        self.style(size, bold, color)
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.epw - indent, size * 0.48, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.line_text(text.upper(), 10.5, True, ACCENT)
        self.ln(0.5)


def build_pdf(view: dict[str, Any], *, font: Path | None, compress: bool = True) -> bytes:
    """The PDF bytes; ``compress=False`` leaves page text readable in the file (for tests)."""
    pdf = _Pdf(font, view)
    pdf.set_compression(compress)
    pdf.set_title(view["title"])
    pdf.alias_nb_pages()
    pdf.add_page()
    _header(pdf, view)
    if view["header"]["void"]:
        pdf.line_text("Bedömningsstödet visas inte för ett intyg som inte får användas som underlag.", 9.5,
                      color=MUTED)
    else:
        _summary(pdf, view["summary"], view["header"])
    _parties(pdf, view)
    pdf.heading("Intygets svar")
    for section in view["sections"]:
        _section(pdf, section, 0)
    _signatures(pdf, view["signature"])
    return bytes(pdf.output())


def _who(p: dict[str, Any]) -> str:
    return (f"{p['namn']}, " if p["namn"] else "") + f"{p['typ']} {p['personId']}" + \
        (" (skyddade personuppgifter)" if p["skyddad"] else "")


def _header(pdf: _Pdf, view: dict[str, Any]) -> None:
    h, p = view["header"], view["patient"]
    pdf.line_text("Läkarintyg till socialnämnden", 15, True)
    pdf.line_text(_who(p), 10.5, True)
    pdf.line_text(f"Signerat av läkaren {h['signerat']} · mall {h['mall']} · intygs-id {h['intygsId']}", 8.5,
                  color=MUTED)
    if h["banner"]:
        pdf.ln(1.5)
        prefix = f"{h['statusText']}: " if h["void"] else ""
        pdf.line_text(prefix + h["banner"], 11.5, True, BAD if h["void"] else WARN)
    if p["skyddad"]:
        pdf.ln(1)
        pdf.line_text("Skyddade personuppgifter: patientens namn och adress, och vårdenhetens namn, adress och "
                      "telefon, lämnas inte ut. Hantera intyget enligt er rutin för skyddade personuppgifter.",
                      9.5, True, BAD)


def _summary(pdf: _Pdf, s: dict[str, Any], h: dict[str, Any]) -> None:
    pdf.heading("Bedömningsstöd – vad intyget betyder för aktivitetskravet")
    total = s["total"]
    if total:
        week = f"{total['vecka']} tim/vecka" if total["vecka"] else total["omfattning"]
        day = f", högst {total['dag']} tim/dag" if total["dag"] else ""
        pdf.line_text(f"Total förmåga, alla aktiviteter: {week}{day}", 11, True)
    else:
        pdf.line_text(f"Total förmåga per vecka: anges inte i intyget (mall {h['mall']} frågar inte efter den)",
                      10.5, True, WARN)
    pdf.line_text(f"Arbetsförmåga: {s['arbete'] or '–'} ({s['procent']} % kvar)   ·   Intyget gäller "
                  f"{s['start']} – {s['giltigt']}   ·   Följ upp senast {s['uppfoljning']}", 10, True)
    pdf.ln(1)
    first = f" (första perioden, {s['perioder'][0]['start']} – {s['perioder'][0]['slut']})" if s["perioder"] else ""
    pdf.line_text("Vilka aktiviteter passar" + first, 9.5, True, ACCENT)
    for line in s["iKorthet"]:
        pdf.line_text(f"{line['label']}: " + ", ".join(line["typer"]), 9.5, indent=3)
    if not s["iKorthet"]:
        pdf.line_text("Ingen aktivitetstyp är bedömd.", 9.5, indent=3)
    if s["ejBedomda"]:
        pdf.line_text("Ej bedömda: " + ", ".join(s["ejBedomda"]), 9, color=MUTED, indent=3)
    if s["perioder"]:
        pdf.line_text("Stegvis upptrappning", 9.5, True, ACCENT)
    for p in s["perioder"]:
        parts = "; ".join(f"{a['typ']}: " + (f"{a['timmar']} tim/v" if a["timmar"] is not None
                                             else a["deltagandeText"].lower()) for a in p["aktiviteter"])
        total = p["total"]
        shown = "" if not total else (f"totalt {total['vecka']} tim/v" if total["vecka"] else total["omfattning"]) + \
            (f", högst {total['dag']} tim/dag" if total and total["dag"] else "") + ". "
        pdf.line_text(f"{p['start']} – {p['slut']}: {shown}{parts}", 9, indent=3)
    for d in s["detaljer"]:
        pdf.line_text(f"{d['label']}: {d['text']}", 9.5, indent=3)
    for a in s["anpassningar"]:
        pdf.line_text(f"Anpassning, {a['typ']}: {a['text']}", 9.5, color=(29, 107, 50), indent=3)
    pdf.ln(1)
    pdf.line_text("Signaler: " + ("; ".join(s["aktivaFlaggor"]) or "inga särskilda"), 9.5, True)
    for group in s["anmarkningsgrupper"]:
        pdf.line_text(group["label"], 9.5, True, WARN)
        for text in group["texts"]:
            pdf.line_text("– " + text, 9.5, color=WARN, indent=3)


def _parties(pdf: _Pdf, view: dict[str, Any]) -> None:
    i, r = view["issuer"], view["recipient"]
    pdf.heading("Utfärdare och mottagare")
    pdf.line_text(f"{i['lakare']} ({i['lakareHsa']}), " + (f"{i['vardenhet']}, " if i["vardenhet"] else "")
                  + f"{i['vardgivare']}")
    titles = [f"Legitimation: {', '.join(i['legitimation'])}"] * bool(i["legitimation"]) + \
        [f"Befattning: {', '.join(i['befattning'])}"] * bool(i["befattning"])
    if titles:
        pdf.line_text(" · ".join(titles), 9)
    contact = i["adress"] + (f" · tel {i['telefon']}" if i["telefon"] else "")
    pdf.line_text(contact or f"vårdenhetens HSA-id {i['vardenhetHsa']}", 9, color=MUTED)
    pdf.line_text(f"Mottagare: {r['namn']} (kommunkod {r['kommunkod']})")
    c = view["consent"]
    if c:
        pdf.line_text(f"Patientens samtycke (grunden för utlämnandet): lämnat {c['lamnat']}, gäller {c['fran']} – "
                      f"{c['till']}; ändamål: {', '.join(c['andamal'])}", 9.5)


def _signatures(pdf: _Pdf, sig: dict[str, Any]) -> None:
    doctor = sig["lakare"]
    pdf.heading("Signaturer")
    pdf.line_text(f"Läkarens signatur (i journalsystemet): utfärdat och signerat av {doctor['namn']} "
                  f"({doctor['hsaId']}) {doctor['tidpunkt']}.", 9.5)
    seal = f"Förseglat av {sig['signer']}. " if sig["signer"] else ""
    pdf.line_text(f"Överföringens försegling (adapterns elektroniska stämpel, inte läkarens signatur): {seal}{sig['text']}",
                  9.5, color=BAD if sig["state"] == "invalid" else MUTED)


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
