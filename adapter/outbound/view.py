"""The case worker's view of a municipal XML document: plain data for the HTML and PDF renderings.

Question texts come from the template (the Questionnaire in ``profiles/``, through the registry),
code displays from the document itself; nothing here re-declares a text of the template.
"""

from __future__ import annotations

import re
from typing import Any

from adapter.fhir.identifiers import ICD10_SE, normalise_system
from adapter.fhir.registry import Registry, default_registry
from adapter.outbound.engine import status_text
from adapter.outbound.reader import Item, MunicipalDocument, value_of
from adapter.outbound.remarks import REMARK_KIND

STATUS_LABELS = {"original": "Original", "replacing": "Ersättande intyg", "withdrawn": "MAKULERAT",
                 "replaced": "ERSATT"}
VOID_STATUSES = frozenset({"withdrawn", "replaced"})
"""A document in one of these states must not be used as a basis for a decision: its content is voided."""
FLAG_LABELS = {
    "sipRekommenderas": "SIP (samordnad individuell plan) rekommenderas",
    "samordnadRehabiliteringRekommenderas": "Samordnad rehabilitering rekommenderas",
    "kontaktOnskas": "Läkaren önskar kontakt med socialnämnden",
    "retroaktivPeriod": "Perioden börjar före intygets underlag (retroaktiv)",
    "oklarEllerDaligPrognos": "Oklar eller ogynnsam prognos",
    "periodOverTreManader": "Perioden är längre än tre månader",
}
PARTICIPATION_LINES = (("fullt", "Kan delta fullt ut"), ("begransat", "Kan delta i begränsad omfattning"),
                       ("inte", "Kan inte delta"))
REMARK_GROUPS = (("konsistens", "Stäm av innan beslut"), ("kvalitet", "Brister i intyget"),
                 ("planering", "Att planera med"))
ACTIVITY_CODESYSTEM = "https://lisn.se/fhir/CodeSystem/aktivitet-typ"


def certificate_view(doc: MunicipalDocument, *, registry: Registry | None = None,
                     signature_status: Any = None) -> dict[str, Any]:
    """Everything the templates show, as plain data."""
    reg = registry or default_registry()
    questions = _questions(reg, doc)
    header = _header(doc)
    return {
        "header": header,
        "patient": _patient(doc),
        "issuer": _issuer(doc),
        "recipient": {"namn": doc.text("mottagare/namn"), "kommunkod": doc.text("mottagare/kommunkod")},
        "consent": _consent(doc),
        "summary": _summary(doc, reg),
        "sections": _sections(doc.items, questions),
        "signature": _signature(doc, signature_status),
        "title": _title(header),
    }


def _title(header: dict[str, Any]) -> str:
    """The page title: shown in tabs and browser history, so it names the document, never the person."""
    short = (header["intygsId"] or "")[:8]
    status = f" – {header['statusText']}" if header["void"] else ""
    return f"Läkarintyg till socialnämnden {short}{status}".strip()


def _questions(reg: Registry, doc: MunicipalDocument) -> dict[str, dict[str, Any]]:
    mall = doc.find("huvud/mall")
    canonical = f"{mall.get('url')}|{mall.get('version')}" if mall is not None else ""
    q = reg.resolve(canonical, "Questionnaire") or {}
    out: dict[str, dict[str, Any]] = {}
    stack = list(q.get("item") or [])
    while stack:
        item = stack.pop()
        out[item.get("linkId", "")] = {"text": item.get("text"), "type": item.get("type")}
        stack.extend(item.get("item") or [])
    out[""] = {"text": q.get("title"), "type": None}
    return out


def _header(doc: MunicipalDocument) -> dict[str, Any]:
    mall = doc.find("huvud/mall")
    status = doc.text("huvud/status") or ""
    ersatter, ersatt_av = doc.text("huvud/ersatterIntygsId"), doc.text("huvud/ersattAvIntygsId")
    return {"intygsId": doc.text("huvud/intygsId"), "status": status,
            "statusText": STATUS_LABELS.get(status, status), "ersatter": ersatter, "ersattAv": ersatt_av,
            "void": status in VOID_STATUSES, "banner": _banner(status, ersatter, ersatt_av),
            "signerat": (doc.text("huvud/signeringstidpunkt") or "").replace("T", " ")[:16],
            "mall": f"{mall.get('version')}" if mall is not None else "",
            "schemaVersion": doc.root.get("schemaVersion") or ""}


def _banner(status: str, ersatter: str | None, ersatt_av: str | None) -> str | None:
    """What a case worker must read first when the document is not a plain, valid certificate."""
    return status_text(status, replaces=ersatter, replaced_by=ersatt_av)


def _patient(doc: MunicipalDocument) -> dict[str, Any]:
    pid = doc.text("patient/personId") or ""
    el = doc.find("patient/personId")
    names = [doc.text("patient/namn/fornamn"), doc.text("patient/namn/efternamn")]
    return {"personId": f"{pid[:8]}-{pid[8:]}" if len(pid) == 12 else pid,
            "typ": el.get("typ") if el is not None else "",
            "skyddad": doc.text("patient/skyddadIdentitet") == "true",
            "namn": " ".join(n for n in names if n) or None}


def _issuer(doc: MunicipalDocument) -> dict[str, Any]:
    lines = [e.text for e in doc.findall("utfardare/vardenhet/adress/utdelningsadress")]
    post = " ".join(t for t in (doc.text("utfardare/vardenhet/adress/postnummer"),
                                doc.text("utfardare/vardenhet/adress/postort")) if t)
    return {"lakare": doc.text("utfardare/lakare/namn"), "lakareHsa": doc.text("utfardare/lakare/hsaId"),
            "befattning": _texts(doc, "utfardare/lakare/befattning"),
            "legitimation": _texts(doc, "utfardare/lakare/legitimation"),
            "vardenhet": doc.text("utfardare/vardenhet/namn"), "vardenhetHsa": doc.text("utfardare/vardenhet/hsaId"),
            "adress": ", ".join([t for t in lines if t] + ([post] if post else [])),
            "telefon": doc.text("utfardare/vardenhet/telefon"), "vardgivare": doc.text("utfardare/vardgivare/namn")}


def _texts(doc: MunicipalDocument, path: str) -> list[str]:
    return [value_of(e)["display"] or value_of(e)["code"] if e.get("kod") else (e.text or "")
            for e in doc.findall(path)]


def _summary(doc: MunicipalDocument, reg: Registry) -> dict[str, Any]:
    # 1.0 assesses activities once; 1.1 per period, and what fits now is the first period's
    periods = _periods(doc)
    activities = [_activity(doc, el) for el in doc.findall("bedomningsstod/aktivitet")] or \
        (periods[0]["aktiviteter"] if periods else [])
    assessed = {a["code"] for a in activities}
    cs = reg.resolve(ACTIVITY_CODESYSTEM, "CodeSystem") or {}
    not_assessed = [c.get("display") or c.get("code") for c in cs.get("concept") or [] if c.get("code") not in assessed]
    flags = [{"label": label, "on": doc.text(f"bedomningsstod/flaggor/{name}") == "true"}
             for name, label in FLAG_LABELS.items()]
    work = doc.find("svar/formaga/arbete")
    return {"aktiviteter": activities, "ejBedomda": not_assessed, "iKorthet": _at_a_glance(activities),
            "anpassningar": _adaptations(doc),
            "total": _total(doc, doc.find("bedomningsstod/totalFormaga")),
            "perioder": periods if len(periods) > 1 else [],
            "detaljer": _details(doc),
            "arbete": value_of(work)["display"] if work is not None else None,
            "procent": doc.text("bedomningsstod/kvarvarandeArbetsformagaProcent"),
            "start": doc.text("svar/formaga/period/start"),
            "giltigt": doc.text("bedomningsstod/giltigtTillOchMed"),
            "uppfoljning": doc.text("bedomningsstod/senastUppfoljning"),
            "flaggor": flags, "aktivaFlaggor": [f["label"] for f in flags if f["on"]],
            "anmarkningsgrupper": _remark_groups(doc)}


def _activity(doc: MunicipalDocument, el: Any) -> dict[str, Any]:
    typ, deltagande = value_of(el[0]), value_of(el[1])
    hours = el.find(f"{{{doc.mapping.namespace}}}timmarPerVecka")
    return {"typ": typ["display"] or typ["code"], "code": typ["code"], "deltagande": deltagande["code"],
            "deltagandeText": deltagande["display"],
            "timmar": int(hours.text) if hours is not None and hours.text else None}


def _at_a_glance(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which activity types fit, grouped by the physician's own words; hours only where the physician gave them."""
    out = []
    for code, label in PARTICIPATION_LINES:
        names = [f"{a['typ']} ({a['timmar']} tim/v)" if a["timmar"] is not None else a["typ"]
                 for a in activities if a["deltagande"] == code]
        if names:
            out.append({"code": code, "label": label, "typer": names})
    return out


def _adaptations(doc: MunicipalDocument) -> list[dict[str, str]]:
    """The physician's adaptations per activity type, from the answers (what the case worker plans with)."""
    out = []
    for el in doc.findall("svar/formaga/aktivitet") + doc.findall("svar/formaga/period/aktivitet"):
        typ = el.find(f"{{{doc.mapping.namespace}}}typ")
        text = el.find(f"{{{doc.mapping.namespace}}}anpassning")
        if typ is not None and text is not None and (text.text or "").strip():
            out.append({"typ": value_of(typ)["display"] or value_of(typ)["code"], "text": text.text or ""})
    return out


def _total(doc: MunicipalDocument, el: Any) -> dict[str, Any] | None:
    """A total capacity over all activity types (template 1.1); None when the document has none."""
    if el is None:
        return None
    ns = doc.mapping.namespace
    level = el.find(f"{{{ns}}}deltagande")
    return {"vecka": el.findtext(f"{{{ns}}}timmarPerVecka"), "dag": el.findtext(f"{{{ns}}}timmarPerDag"),
            "omfattning": value_of(level)["display"] if level is not None else None,
            "code": level.get("kod") if level is not None else None}


def _periods(doc: MunicipalDocument) -> list[dict[str, Any]]:
    """Stepwise periods (template 1.1): each with its total and its extent per activity type."""
    ns = doc.mapping.namespace
    return [{"start": el.findtext(f"{{{ns}}}start"), "slut": el.findtext(f"{{{ns}}}slut"),
             "total": _total(doc, el.find(f"{{{ns}}}totalFormaga")),
             "aktiviteter": [_activity(doc, a) for a in el.findall(f"{{{ns}}}aktivitet")]}
            for el in doc.findall("bedomningsstod/period")]


def _details(doc: MunicipalDocument) -> list[dict[str, str]]:
    """Template 1.1's answers a case worker plans with, as label and text (only those present)."""
    def coded(path: str) -> str | None:
        el = doc.find(path)
        return (value_of(el)["display"] or value_of(el)["code"]) if el is not None else None
    risk = doc.text("svar/formaga/risk/finns")
    months = doc.text("svar/prognos/manader")
    rows = [("Arbetsförmågan bedömd i förhållande till", coded("svar/formaga/relation")),
            ("Risk för försämring", None if risk is None else ("Ja: " + (doc.text("svar/formaga/risk/beskrivning") or "")
                                                               if risk == "true" else "Nej")),
            ("Prognos", (coded("svar/prognos/typ") or "") + (f", inom {months} månader" if months else "")
             if months else None),
            ("Nytt intyg behövs senast", doc.text("svar/prognos/nyttIntyg")),
            ("Huvudansvar för rehabiliteringen", coded("svar/atgarder/ansvar")),
            ("Förmågan att delta i aktiviteter är inte bedömd", doc.text("svar/formaga/ejBedomd"))]
    return [{"label": label, "text": text} for label, text in rows if text]


def _consent(doc: MunicipalDocument) -> dict[str, Any] | None:
    """The patient's consent (schema 1.1): the legal basis of the disclosure."""
    el = doc.find("samtycke")
    if el is None:
        return None
    ns = doc.mapping.namespace
    return {"status": el.findtext(f"{{{ns}}}status"), "lamnat": (el.findtext(f"{{{ns}}}lamnat") or "")[:10],
            "fran": el.findtext(f"{{{ns}}}giltigtFran"), "till": el.findtext(f"{{{ns}}}giltigtTill"),
            "andamal": [value_of(a)["display"] or value_of(a)["code"] for a in el.findall(f"{{{ns}}}andamal")]}


def _remark_groups(doc: MunicipalDocument) -> list[dict[str, Any]]:
    # The adaptations themselves are shown beside the activities; their remark would only repeat them.
    remarks = [(e.get("kategori") or REMARK_KIND.get(e.get("kod") or "", "kvalitet"), e.text or "")
               for e in doc.findall("bedomningsstod/kvalitetsanmarkning") if e.get("kod") != "LISN_ASSESS_ADAPTATION"]
    return [{"kind": kind, "label": label, "texts": [t for k, t in remarks if k == kind]}
            for kind, label in REMARK_GROUPS if any(k == kind for k, _ in remarks)]


def _format(value: Any, qtype: str | None) -> str:
    if isinstance(value, dict):
        display, code = value.get("display") or "", str(value.get("code"))
        # A diagnosis is read with its code; our own choice lists by their display alone.
        if normalise_system(value.get("system")) == ICD10_SE:
            return f"{code} {display}".strip()
        return display or code
    if qtype == "boolean" or value in ("true", "false"):
        return "Ja" if value == "true" else "Nej"
    return str(value)


def _sections(items: list[Item], questions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        q = questions.get(item["linkId"], {})
        out.append({"linkId": item["linkId"], "text": q.get("text") or item["linkId"],
                    # a repeated group shows its question once, above the first repetition
                    "first": i == 0 or items[i - 1]["linkId"] != item["linkId"],
                    "answers": [_format(v, q.get("type")) for v in item["answers"]],
                    "children": _sections(item["items"], questions)})
    return out


def _signature(doc: MunicipalDocument, status: Any) -> dict[str, Any]:
    """Two signatures, each named for what it is: the physician's and the adapter's seal on the transfer."""
    physician = {"namn": doc.text("utfardare/lakare/namn"), "hsaId": doc.text("utfardare/lakare/hsaId"),
                 "tidpunkt": (doc.text("huvud/signeringstidpunkt") or "").replace("T", " ")[:16],
                 "ursprunglig": bool(doc.findall("ursprungligSignatur"))}
    if status is None:  # a signed document is only ever read from its valid verification
        seal = {"state": "unsigned", "text": "Dokumentet är inte förseglat.", "signer": None}
    else:
        # the holder is named once, by its CN, not again as a raw certificate subject in the text
        text = status.text_sv.replace(f" ({status.signer})", "") if status.signer else status.text_sv
        seal = {"state": "valid" if status.ok else "invalid", "text": text, "signer": _common_name(status.signer)}
    return {**seal, "lakare": physician}


def _common_name(subject: str | None) -> str | None:
    """The CN of an RFC 4514 subject (the seal's name as a person reads it), or the subject itself."""
    if not subject:
        return None
    found = re.search(r"(?:^|,)CN=((?:\\.|[^,])*)", subject)
    return found.group(1).replace("\\", "") if found else subject
