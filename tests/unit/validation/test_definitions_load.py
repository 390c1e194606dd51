"""``models/r4/base.json`` keeps each owner's elements as a JSON text of its own, decoded when the
owner is first met: every one of them decodes to the elements the generator wrote."""

from __future__ import annotations

import json
from pathlib import Path

from adapter.fhir import definitions as defs

BASE = Path(defs.__file__).parent / "models" / "r4" / "base.json"


def test_every_owner_is_a_json_text_of_its_elements() -> None:
    owners = json.loads(BASE.read_text(encoding="utf-8"))["owners"]
    fields = defs._data()["fields"]
    assert len(owners) > 600 and {"Patient", "Patient.contact", "Bundle.entry", "Quantity"} <= set(owners)
    for owner, text in owners.items():
        assert isinstance(text, str), owner
        elements = json.loads(text)
        assert isinstance(elements, dict) and elements, owner
        assert all(isinstance(spec, list) and len(spec) == len(fields) for spec in elements.values()), owner


def test_an_owner_decodes_to_its_children() -> None:
    contact = defs.children("Patient.contact")
    assert set(contact) >= {"relationship", "name", "telecom", "address", "gender", "organization", "period"}
    assert contact["relationship"].repeats and contact["gender"].value_set is not None
    assert defs.children("NoSuchOwner") == {} and defs._owner("NoSuchOwner") == {}
    assert defs.children("Observation")["value"].choice
