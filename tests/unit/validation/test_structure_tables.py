"""The structure walk's tables per type keep only the names the type has: an input's unknown
property names (each an error) are not remembered, so hostile input cannot grow them."""

from __future__ import annotations

from adapter import errors
from adapter.validation import structure, validate


def test_unknown_names_are_reported_and_not_kept() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "active": True}
    patient.update({f"unknown{i}": i for i in range(50)})
    oo = validate(patient)
    assert errors.has_errors(oo)
    texts = [i for i in oo["issue"] if "unknown7" in str(i.get("expression"))]
    assert texts, "each unknown property is reported"
    table = structure._owner_table("Patient")
    assert "active" in table.plans and "id" in table.plans
    assert not any(k.startswith("unknown") for k in table.plans)


def test_a_known_name_maps_to_its_element() -> None:
    table = structure._owner_table("Observation")
    assert table.key("valueQuantity") == ("value", "valueQuantity", False)
    assert table.key("_status") == ("status", "status", True)
    assert table.key("_code") is None  # code is no primitive: no "_code"
    assert table.key("nonsense") is None
