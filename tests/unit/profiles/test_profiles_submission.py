"""The submission Bundle's entry slicing: one slice per resource type, closed, and every example fits it."""

from __future__ import annotations

from typing import Any

import pytest
from lisn_profiles_support import BASE, EXAMPLES, PROFILES, read

SD = read(PROFILES / "StructureDefinition-lisn-submission.json")
ELEMENTS = SD["differential"]["element"]


def _slices() -> dict[str, tuple[int, str]]:
    """resource type -> (min, max) of its entry slice."""
    out: dict[str, tuple[int, str]] = {}
    for element in ELEMENTS:
        if element["path"] == "Bundle.entry.resource" and ":" in element["id"]:
            (t,) = element["type"]
            name = element["id"].split(":")[1].split(".")[0]
            (sl,) = [e for e in ELEMENTS if e["id"] == f"Bundle.entry:{name}"]
            assert t["code"] not in out, "a type discriminator needs one slice per type"
            out[t["code"]] = (sl["min"], sl["max"])
    return out


def test_slicing_is_closed_by_resource_type() -> None:
    (entry,) = [e for e in ELEMENTS if e["id"] == "Bundle.entry"]
    assert entry["slicing"]["discriminator"] == [{"type": "type", "path": "resource"}]
    assert entry["slicing"]["rules"] == "closed"
    assert entry["min"] == sum(mn for mn, _ in _slices().values())


def test_slices_are_the_architecture_shape() -> None:
    assert _slices() == {
        "MessageHeader": (1, "1"), "QuestionnaireResponse": (1, "1"), "Patient": (1, "1"),
        "Practitioner": (1, "1"), "PractitionerRole": (1, "1"), "Organization": (3, "*"),
        "Consent": (0, "*"),
        # A signature over the certificate (signing: JWS; inbound: a kept XML signature).
        "Provenance": (0, "*"),
    }


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("Bundle-*.json")), ids=lambda p: p.name)
def test_every_example_bundle_fits_the_slices(path: Any) -> None:
    bundle = read(path)
    assert f"{BASE}/StructureDefinition/lisn-submission" in bundle["meta"]["profile"]
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        rtype = entry["resource"]["resourceType"]
        counts[rtype] = counts.get(rtype, 0) + 1
    slices = _slices()
    assert set(counts) <= set(slices)
    for rtype, (mn, mx) in slices.items():
        assert mn <= counts.get(rtype, 0) <= (10**6 if mx == "*" else int(mx)), rtype
