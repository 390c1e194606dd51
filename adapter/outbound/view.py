"""The case worker's view of a municipal XML document: plain data for the HTML and PDF renderings.

Question texts come from the template (the Questionnaire in ``profiles/``, through the registry),
code displays from the document itself; nothing here re-declares a text of the template.
"""

from __future__ import annotations

from typing import Any

from adapter.fhir.identifiers import ICD10_SE, normalise_system
from adapter.fhir.registry import Registry, default_registry
from adapter.outbound.reader import Item, MunicipalDocument, value_of

STATUS_LABELS = {"original": "Original", "replacing": "Ersätter tidigare intyg", "withdrawn": "MAKULERAT"}
FLAG_LABELS = {
    "sipRekommenderas": "SIP (samordnad individuell plan) rekommenderas",
    "samordnadRehabiliteringRekommenderas": "Samordnad rehabilitering rekommenderas",
    "kontaktOnskas": "Läkaren önskar kontakt med socialnämnden",
    "retroaktivPeriod": "Perioden börjar före intygets underlag (retroaktiv)",
    "oklarEllerDaligPrognos": "Oklar eller dålig prognos",
    "periodOverTreManader": "Perioden är längre än tre månader",
}
ACTIVITY_CODESYSTEM = "https://lisn.se/fhir/CodeSystem/aktivitet-typ"


def certificate_view(doc: MunicipalDocument, *, registry: Registry | None = None,
                     signature_status: Any = None) -> dict[str, Any]:
    """Everything the templates show, as plain data."""
    reg = registry or default_registry()
    questions = _questions(reg, doc)
    return {
        "header": _header(doc),
        "patient": _patient(doc),
        "issuer": _issuer(doc),
        "recipient": {"namn": doc.text("mottagare/namn"), "kommunkod": doc.text("mottagare/kommunkod")},
        "summary": _summary(doc, reg),
        "sections": _sections(doc.items, questions),
        "signature": _signature(doc, signature_status),
    }


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
    return {"intygsId": doc.text("huvud/intygsId"), "status": status,
            "statusText": STATUS_LABELS.get(status, status), "ersatter": doc.text("huvud/ersatterIntygsId"),
            "signerat": (doc.text("huvud/signeringstidpunkt") or "").replace("T", " ")[:16],
            "mall": f"{mall.get('version')}" if mall is not None else ""}


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
            "vardenhet": doc.text("utfardare/vardenhet/namn"), "vardenhetHsa": doc.text("utfardare/vardenhet/hsaId"),
            "adress": ", ".join([t for t in lines if t] + ([post] if post else [])),
            "telefon": doc.text("utfardare/vardenhet/telefon"), "vardgivare": doc.text("utfardare/vardgivare/namn")}


def _summary(doc: MunicipalDocument, reg: Registry) -> dict[str, Any]:
    activities = []
    for el in doc.findall("bedomningsstod/aktivitet"):
        typ, deltagande = value_of(el[0]), value_of(el[1])
        hours = el.find(f"{{{doc.mapping.namespace}}}timmarPerVecka")
        activities.append({"typ": typ["display"] or typ["code"], "code": typ["code"],
                           "deltagande": deltagande["code"], "deltagandeText": deltagande["display"],
                           "timmar": int(hours.text) if hours is not None and hours.text else None})
    assessed = {a["code"] for a in activities}
    cs = reg.resolve(ACTIVITY_CODESYSTEM, "CodeSystem") or {}
    not_assessed = [c.get("display") or c.get("code") for c in cs.get("concept") or [] if c.get("code") not in assessed]
    flags = [{"label": label, "on": doc.text(f"bedomningsstod/flaggor/{name}") == "true"}
             for name, label in FLAG_LABELS.items()]
    all_hours = [a["timmar"] for a in activities if a["timmar"] is not None]
    glance = _at_a_glance(activities)
    return {"aktiviteter": activities, "ejBedomda": not_assessed, "iKorthet": glance,
            "maxTimmar": max(all_hours) if all_hours else None,
            "procent": doc.text("bedomningsstod/kvarvarandeArbetsformagaProcent"),
            "giltigt": doc.text("bedomningsstod/giltigtTillOchMed"),
            "uppfoljning": doc.text("bedomningsstod/senastUppfoljning"),
            "flaggor": flags, "aktivaFlaggor": [f["label"] for f in flags if f["on"]],
            "anmarkningar": [e.text for e in doc.findall("bedomningsstod/kvalitetsanmarkning")]}


def _at_a_glance(activities: list[dict[str, Any]]) -> list[str]:
    """One line per kind of participation: what the case worker plans activities from."""
    def names(kind: str, with_hours: bool = False) -> str:
        return ", ".join(f"{a['typ']} {a['timmar']} tim/v" if with_hours else a["typ"]
                         for a in activities if a["deltagande"] == kind)
    lines = [("Kan delta på heltid (40 tim/v)", names("fullt")), ("Kan delta begränsat", names("begransat", True)),
             ("Kan inte delta (0 tim/v)", names("inte"))]
    return [f"{label}: {text}" for label, text in lines if text]


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
    if not doc.signed:
        return {"state": "unsigned", "text": "Dokumentet är inte signerat."}
    if status is None:
        return {"state": "unchecked", "text": "Dokumentet är signerat; signaturen har inte kontrollerats i denna vy."}
    return {"state": "valid" if status.ok else "invalid", "text": status.text_sv, "signer": status.signer}
