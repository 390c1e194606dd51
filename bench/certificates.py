"""Certificates to measure with: the reference example, a fresh copy per request, grown variants.

Every document derives from ``profiles/examples/Bundle-lisn-example-submission.json``
so that the figures describe the certificate EHR systems actually send.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"

Bundle = dict[str, Any]

# Free-text answers (DESIGN §3 "text"/"string" items) that the growth section lengthens.
_TEXT_ITEMS = frozenset({"funktionsnedsattning", "aktivitetsbegransning", "behandling.pagaende",
                         "behandling.planerad", "prognos.beskrivning", "atgarder.beskrivning",
                         "kontakt.anledning", "diagnos.text", "ovrigt"})


def example_bytes() -> bytes:
    return EXAMPLE.read_bytes()


def example() -> Bundle:
    return json.loads(example_bytes())


def response_of(bundle: Bundle) -> dict[str, Any]:
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "QuestionnaireResponse":
            return entry["resource"]
    raise LookupError("the example has no QuestionnaireResponse")


def with_certificate_id(bundle: Bundle, certificate_id: uuid.UUID | None = None) -> Bundle:
    """A copy whose certificate id (the idempotency key) and Bundle identifier are new."""
    out = copy.deepcopy(bundle)
    cid = certificate_id or uuid.uuid4()
    response_of(out)["identifier"]["value"] = f"urn:uuid:{cid}"
    out["identifier"]["value"] = f"urn:uuid:{uuid.uuid5(cid, 'bundle')}"
    return out


def _walk(items: list[dict[str, Any]]):
    for item in items:
        yield item
        yield from _walk(item.get("item", []))
        for answer in item.get("answer", []):
            yield from _walk(answer.get("item", []))


def grown(bundle: Bundle, factor: int) -> Bundle:
    """A copy with every free-text answer ``factor`` times as long and the repeating
    ``grund`` group repeated ``factor`` times as often (``grund`` is 1..*).

    At 100x the texts pass the template's 4000-character limit, so the grown
    certificate is invalid on purpose: the validator must still finish in linear time.
    """
    out = copy.deepcopy(bundle)
    qr = response_of(out)
    for item in _walk(qr["item"]):
        if item["linkId"] in _TEXT_ITEMS:
            for answer in item.get("answer", []):
                if "valueString" in answer:
                    answer["valueString"] = " ".join([answer["valueString"]] * factor)
    grund = [i for i in qr["item"] if i["linkId"] == "grund"]
    at = qr["item"].index(grund[-1]) + 1
    qr["item"][at:at] = [copy.deepcopy(g) for g in grund * (factor - 1)]
    return out


def to_bytes(bundle: Bundle) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode("utf-8")


def id_placeholders() -> list[str]:
    """The example's certificate id and Bundle identifier (the UUID part), which the load
    generator replaces by fresh UUIDs so every request is a new certificate."""
    bundle = example()
    return [response_of(bundle)["identifier"]["value"].removeprefix("urn:uuid:"),
            bundle["identifier"]["value"].removeprefix("urn:uuid:")]
