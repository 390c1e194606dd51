"""The certificates a fault run submits, in three groups by what should become of them.

- ``deliver``: the example, to the socialnämnd 0180 whose receiver trusts our signer;
- ``revoke``: another patient (samordningsnummer) with a consent of their own, revoked while
  deliveries are in flight: what has not reached the receiver must end withheld;
- ``reject``: to the socialnämnd 1480, whose receiver trusts another CA and rejects our signature:
  a poison message per certificate, which must be dead-lettered without blocking the others;
- ``slow``: to the socialnämnd 0581, whose server accepts a push and then answers one byte at a
  time (``bench.fault.tarpit``): nothing can be delivered there, and nothing to the others may wait
  for it. Its messages are still waiting (retried) when the run ends.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from bench import certificates

REVOCABLE_CONSENT_ID = "bench-revocable-consent"
REVOCABLE_PATIENT = ("http://electronichealth.se/identifier/samordningsnummer", "197010632391")
REJECTING_KOMMUNKOD = "1480"
SLOW_KOMMUNKOD = "0581"


@dataclass(frozen=True)
class Planned:
    group: str
    certificate_id: str
    body: bytes


def _entry(bundle: dict[str, Any], resource_type: str, index: int = 0) -> dict[str, Any]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type][index]


def _revocable(bundle: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    patient = _entry(out, "Patient")
    patient["identifier"] = [{"system": REVOCABLE_PATIENT[0], "value": REVOCABLE_PATIENT[1]}]
    patient.pop("name", None)
    _entry(out, "Consent")["id"] = REVOCABLE_CONSENT_ID
    return out


def _addressed(bundle: dict[str, Any], kommunkod: str, name: str) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    orgs = [e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "Organization"]
    namnd = next(o for o in orgs if any(i["system"].endswith("/kommunkod") for i in o.get("identifier", [])))
    namnd["identifier"] = [{"system": "https://lisn.se/fhir/sid/kommunkod", "value": kommunkod}]
    namnd["name"] = name
    header = _entry(out, "MessageHeader")
    header["destination"][0]["endpoint"] = f"urn:lisn:kommunkod:{kommunkod}"
    header["destination"][0]["name"] = namnd["name"]
    return out


def _rejecting(bundle: dict[str, Any]) -> dict[str, Any]:
    return _addressed(bundle, REJECTING_KOMMUNKOD, "Socialnämnden i Göteborgs stad")


def _slow(bundle: dict[str, Any]) -> dict[str, Any]:
    return _addressed(bundle, SLOW_KOMMUNKOD, "Socialnämnden i Norrköpings kommun")


def plan(*, deliver: int, revoke: int, reject: int, seed: int, slow: int = 0) -> list[Planned]:
    """The certificates in submission order (groups interleaved so they share the queue)."""
    base = certificates.example()
    makers = {"deliver": lambda b: b, "revoke": _revocable, "reject": _rejecting, "slow": _slow}
    wanted = {"deliver": deliver, "revoke": revoke, "reject": reject, "slow": slow}
    out: list[Planned] = []
    rng = uuid.UUID(int=seed)
    n = 0
    while any(wanted.values()):
        for group in ("deliver", "revoke", "reject", "slow"):
            if wanted[group]:
                wanted[group] -= 1
                n += 1
                cid = uuid.uuid5(rng, f"{group}-{n}")
                bundle = certificates.with_certificate_id(makers[group](base), cid)
                out.append(Planned(group, f"urn:uuid:{cid}", certificates.to_bytes(bundle)))
    return out


def changed_content(planned: Planned) -> bytes:
    """The same certificate id with a different text: a conflicting resubmission (409)."""
    import json

    bundle = json.loads(planned.body)
    qr = certificates.response_of(bundle)
    item = next(i for i in qr["item"] if i["linkId"] == "funktionsnedsattning")
    item["answer"][0]["valueString"] += " (ändrad)"
    return certificates.to_bytes(bundle)
