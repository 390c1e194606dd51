"""``fhir.submission.Submission`` keeps its entries and a reference index (built once per object):
every part and every reference must resolve exactly as the scan of the entries on every call did,
to the same object, on the example and test-case Bundles and on generated Bundles whose fullUrls,
types and ids collide; and the Bundle must not change under it in a submission's stages."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir import submission as sm
from adapter.fhir.submission import Submission

ROOT = Path(__file__).resolve().parents[3]
PARTS = ("header", "event", "response", "patient", "practitioner_role", "practitioner", "care_unit",
         "care_provider", "recipient", "consents", "certificate_id", "questionnaire", "authored",
         "patient_identifier", "protected_identity", "kommunkod", "care_unit_hsa", "replaces")


class Scanning(Submission):
    """The Submission as it was: every call scans the entries (the general form)."""

    def entries(self) -> list[dict[str, Any]]:
        return [e for e in self.bundle.get("entry") or [] if isinstance(e, dict)]

    def resources(self, resource_type: str | None = None) -> list[dict[str, Any]]:
        out = []
        for e in self.entries():
            r = e.get("resource")
            if isinstance(r, dict) and (resource_type is None or r.get("resourceType") == resource_type):
                out.append(r)
        return out

    def resolve(self, reference: Any) -> dict[str, Any] | None:
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(ref, str):
            return None
        for e in self.entries():
            r = e.get("resource")
            if not isinstance(r, dict):
                continue
            if e.get("fullUrl") == ref or f"{r.get('resourceType')}/{r.get('id')}" == ref \
                    or (e.get("fullUrl") or "").endswith("/" + ref):
                return r
        return None

    @property
    def header(self) -> dict[str, Any] | None:
        first = self.resources()[:1]
        return first[0] if first and first[0].get("resourceType") == "MessageHeader" else None


def _bundles_on_disk() -> list[dict[str, Any]]:
    found = []
    for folder in (ROOT / "profiles" / "examples", ROOT / "tests" / "cases"):
        for path in sorted(folder.rglob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and data.get("resourceType") == "Bundle":
                found.append(data)
    return found


def _references(value: Any) -> list[Any]:
    """Every ``reference`` in the Bundle, every fullUrl and Type/id and their tails, and some strangers."""
    found: list[Any] = [None, "", "/", "x", 5, {"reference": 5}, {}]
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for key in ("reference", "fullUrl"):
                if isinstance(v.get(key), str):
                    found += [v[key], {"reference": v[key]}]
                    found += [v[key][i + 1:] for i, ch in enumerate(v[key]) if ch == "/"]
            if "resourceType" in v:
                found.append(f"{v.get('resourceType')}/{v.get('id')}")
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


_URLS = ["urn:uuid:1", "urn:uuid:2", "http://a/Patient/1", "http://b/Patient/1", "Patient/1", "a/Patient/1",
         "http://a/fhir/Organization/o1", "Organization/o1", "x/y", "/", "", None, "Patient/None"]
_TYPES = ["MessageHeader", "QuestionnaireResponse", "Patient", "PractitionerRole", "Practitioner",
          "Organization", "Consent", None]
_IDS = ["1", "o1", "p1", None, 1]


def _generated(rng: random.Random) -> dict[str, Any]:
    """A Bundle of a few entries whose fullUrls, types, ids and references collide in every way."""
    def ref() -> Any:
        return rng.choice([{"reference": rng.choice(_URLS[:-2] + ["Patient/1", "Organization/o1", "1"])},
                           {"reference": rng.choice(["Patient/None", "x"])}, "nonsense", None])

    entries: list[Any] = []
    for _ in range(rng.randint(0, 8)):
        resource: dict[str, Any] = {}
        if (kind := rng.choice(_TYPES)) is not None:
            resource["resourceType"] = kind
        if (rid := rng.choice(_IDS)) is not None:
            resource["id"] = rid
        for key in ("subject", "author", "practitioner", "organization", "partOf"):
            if rng.random() < 0.5:
                resource[key] = ref()
        if rng.random() < 0.4:
            resource["focus"] = [ref() for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.4:
            resource["destination"] = [{"receiver": ref()}]
        if rng.random() < 0.5:
            resource["identifier"] = [{"system": "http://sll.se/kommunkod", "value": "0180"}] \
                if kind != "QuestionnaireResponse" else {"value": f"cert-{rng.randint(0, 3)}"}
        entry: dict[str, Any] = {"resource": resource if rng.random() < 0.9 else "not a resource"}
        if (url := rng.choice(_URLS)) is not None:
            entry["fullUrl"] = url
        entries.append(entry if rng.random() < 0.95 else "not an entry")
    return {"resourceType": "Bundle", "type": "message", "entry": entries}


def _answer(fn: Any) -> tuple[str, Any]:
    try:
        return "value", fn()
    except Exception as exc:  # noqa: BLE001 - the scan's errors must stand too
        return "error", type(exc)


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    if a[0] != b[0]:
        return False
    if isinstance(a[1], dict) or isinstance(b[1], dict):
        return a[1] is b[1]
    if isinstance(a[1], list) and isinstance(b[1], list):
        return len(a[1]) == len(b[1]) and all(x is y for x, y in zip(a[1], b[1], strict=True))
    return bool(a[1] == b[1])


def _differences(bundle: dict[str, Any]) -> list[str]:
    kept, plain = Submission(bundle), Scanning(bundle)
    found = []
    for _round in range(2):  # the second round answers from what the first kept
        for name in PARTS:
            if not _same(_answer(lambda n=name: getattr(kept, n)), _answer(lambda n=name: getattr(plain, n))):
                found.append(name)
        for ref in _references(bundle):
            if not _same(_answer(lambda r=ref: kept.resolve(r)), _answer(lambda r=ref: plain.resolve(r))):
                found.append(f"resolve({ref!r})")
        for kind in (None, *_TYPES, "Nothing"):
            if not _same(_answer(lambda k=kind: kept.resources(k)), _answer(lambda k=kind: plain.resources(k))):
                found.append(f"resources({kind!r})")
        if not _same(_answer(kept.entries), _answer(plain.entries)):
            found.append("entries")
    return found


def _generated_bundles(count: int = 1500) -> list[dict[str, Any]]:
    rng = random.Random(15)
    out = [_generated(rng) for _ in range(count)]
    odd = _generated(rng)
    odd["entry"].append({"fullUrl": 5, "resource": {"resourceType": "Patient", "id": "z"}})  # a non-string fullUrl
    return [*out, odd, {"resourceType": "Bundle"}, {"resourceType": "Bundle", "entry": {"a": 1}}]


def test_the_kept_index_answers_as_the_scan_on_disk_bundles() -> None:
    bundles = _bundles_on_disk()
    assert len(bundles) >= 4
    for bundle in bundles:
        assert _differences(bundle) == []


def test_the_kept_index_answers_as_the_scan_on_generated_bundles() -> None:
    for bundle in _generated_bundles():
        assert _differences(bundle) == [], bundle


def test_negative_control_a_wrong_index_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last entry winning a shared key instead of the first: the comparison must notice."""
    original = sm._Kept.of.__func__  # type: ignore[attr-defined]

    def last_wins(cls: type[sm._Kept], bundle: dict[str, Any]) -> sm._Kept:
        kept = original(cls, bundle)
        if kept.index is not None:
            for e in kept.entries:
                r = e.get("resource")
                if isinstance(r, dict):
                    kept.index[f"{r.get('resourceType')}/{r.get('id')}"] = r
        return kept

    monkeypatch.setattr(sm._Kept, "of", classmethod(last_wins))
    assert any(_differences(b) for b in _generated_bundles(300))


def test_negative_control_no_tails_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = sm._Kept.of.__func__  # type: ignore[attr-defined]

    def without_tails(cls: type[sm._Kept], bundle: dict[str, Any]) -> sm._Kept:
        kept = original(cls, bundle)
        if kept.index is not None:
            urls = {e.get("fullUrl") for e in kept.entries}
            for key in [k for k in kept.index if k not in urls and "/" not in k]:
                del kept.index[key]
        return kept

    monkeypatch.setattr(sm._Kept, "of", classmethod(without_tails))
    assert any(_differences(b) for b in _bundles_on_disk() + _generated_bundles(300))


def test_a_new_entry_list_is_seen() -> None:
    """The guard: another ``Bundle.entry`` (or one of another length) is indexed afresh."""
    bundle = json.loads((ROOT / "profiles/examples/Bundle-lisn-example-submission.json").read_text())
    sub = Submission(bundle)
    patient = sub.patient
    assert patient is not None
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    assert sub.patient is None and _differences(bundle) == []
    bundle["entry"].append({"fullUrl": "urn:x", "resource": patient})
    assert sub.patient is patient


def test_the_stages_leave_the_bundle_as_it_came() -> None:
    """What the Submission keeps stays true through a submission: validation, the statistics row,
    the inlined Consents and the municipal XML never change the Bundle they are given."""
    from datetime import UTC, datetime

    from adapter.consent import inline_references
    from adapter.fhir.registry import default_registry
    from adapter.outbound import render_municipal_xml
    from adapter.stats.row import statistics_row
    from adapter.validation import validate

    registry = default_registry()
    checked = 0
    for path in sorted((ROOT / "profiles/examples").glob("Bundle-*.json")):
        bundle = json.loads(path.read_text())
        before = copy.deepcopy(bundle)
        sub = Submission(bundle)
        validate(bundle, registry)
        statistics_row(bundle, datetime(2026, 12, 4, tzinfo=UTC))
        [inline_references(c, sub.resolve) for c in sub.consents]
        event = sub.event or "certificate"
        render_municipal_xml(bundle, registry=registry, status=sm.XML_STATUS_BY_EVENT.get(event, "original"),
                             replaces=sub.replaces)
        assert bundle == before, path.name
        checked += 1
    assert checked >= 3
