"""Property: for any folder of well-named resources, the package holds them all, indexed, reproducibly."""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.package import build_package
from adapter.fhir.registry import Registry

_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-.]{0,20}", fullmatch=True)
_TYPES = st.sampled_from(["CodeSystem", "ValueSet", "StructureDefinition", "NamingSystem", "Questionnaire"])
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@st.composite
def _resources(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(st.lists(_ID, min_size=1, max_size=6, unique_by=str.lower))
    out = []
    for rid in ids:
        rtype = draw(_TYPES)
        res: dict[str, Any] = {"resourceType": rtype, "id": rid, "title": draw(_TEXT)}
        if rtype != "NamingSystem":
            res["url"] = f"https://example.org/{rtype}/{rid}"
            res["version"] = draw(st.sampled_from(["1.0", "1.0.0", "2.1"]))
        out.append(res)
    return out


def _write(folder: Path, resources: list[dict[str, Any]], examples: list[dict[str, Any]]) -> None:
    (folder / "examples").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": "x.y", "version": "0.1.0"}), encoding="utf-8")
    for sub, items in (("", resources), ("examples", examples)):
        for r in items:
            (folder / sub / f"{r['resourceType']}-{r['id']}.json").write_text(
                json.dumps(r, ensure_ascii=False), encoding="utf-8")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources=_resources(), examples=st.lists(
    st.builds(lambda i: {"resourceType": "Patient", "id": i}, _ID), max_size=3, unique_by=lambda r: r["id"].lower()))
def test_package_round_trips(resources: list[dict[str, Any]], examples: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        _write(src, resources, examples)
        first = build_package(Path(tmp) / "a", source=src)
        second = build_package(Path(tmp) / "b", source=src)
        assert first.read_bytes() == second.read_bytes()
        with tarfile.open(first, "r:gz") as tar:
            index = json.load(tar.extractfile("package/.index.json"))  # type: ignore[arg-type]
            example_index = json.load(tar.extractfile("package/example/.index.json"))  # type: ignore[arg-type]
        assert sorted(f["id"] for f in index["files"]) == sorted(r["id"] for r in resources)
        assert sorted(f["id"] for f in example_index["files"]) == sorted(r["id"] for r in examples)
        registry = Registry()
        registry.load_path(first)
        for r in resources:
            if "url" in r:
                assert registry.resolve(f"{r['url']}|{r['version']}") == r
