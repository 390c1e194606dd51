"""Helpers for the inbound tests: the golden corpus, the examples, and the checks every output must pass."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lxml import etree

from adapter.fhir.parse import parse_xml
from adapter.inbound import fhirinput
from adapter.inbound.engine import Trace
from adapter.inbound.export import mapping_for
from adapter.issues import Issues

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden" / "inbound"
EXAMPLES = ROOT / "mappings" / "examples"


def golden_inputs() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.input.*"))


def example_inputs() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*/*") if p.is_file() and not p.name.endswith(".inputs.json"))


def side_inputs(example: Path) -> dict[str, str]:
    """The side inputs kept beside an example (``<name>.inputs.json``; golden: ``<name>.inputs.json``)."""
    stem = example.name.split(".")[0]
    sidecar = example.with_name(f"{stem}.inputs.json")
    return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}


def set_options(example: Path) -> list[str]:
    return [arg for k, v in side_inputs(example).items() for arg in ("--set", f"{k}={v}")]


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _walk(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _walk(v, f"{path}[{i}]")
    return out


def check_submission(bundle: dict[str, Any]) -> None:
    """Properties of every submission: ids unique, references resolve, nothing empty."""
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls), "fullUrls are unique"
    assert len(set(ids)) == len(ids), "resource ids are unique"
    assert all(u.startswith("urn:uuid:") for u in full_urls)
    for path, value in _walk(bundle):
        assert value not in ("", [], {}, None), f"empty element at {path}"
        if path.endswith(".reference") and isinstance(value, str):
            assert value in full_urls, f"{path} = {value} resolves inside the Bundle"


def _json_path(doc: Any, location: str) -> Any:
    node = doc
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", location):
        node = node[int(index)] if index else node[name]
    return node


def source_value(fmt: str, raw: bytes, location: str) -> Any:
    """What the source holds at ``location`` (as the engine wrote it), or fail."""
    syntax = mapping_for(fmt).syntax
    if syntax == "xml":
        ns = mapping_for(fmt).namespaces
        found = parse_xml(raw).xpath(location, namespaces=ns)
        assert found, f"{location} finds nothing in the input"
        node = found[0]
        return "".join(node.itertext()).strip() if isinstance(node, etree._Element) else str(node)
    data = json.loads(raw)
    if syntax == "flat":
        keys = [k for k in data if k == location or k.startswith(location + "|")]
        assert keys, f"{location} is not in the FLAT input"
        return data.get(location, {k: data[k] for k in keys})
    doc = fhirinput.normalise(data, Issues()) if syntax == "fhir" else data
    return _json_path(doc, location)


def answers(bundle: dict[str, Any]) -> list[tuple[str, Any]]:
    qr = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")
    out: list[tuple[str, Any]] = []
    stack = list(qr.get("item", []))
    while stack:
        item = stack.pop()
        for ans in item.get("answer", []):
            out += [(item["linkId"], v) for k, v in ans.items() if k.startswith("value")]
        stack += item.get("item", [])
    return out


def check_traceable(fmt: str, raw: bytes, bundle: dict[str, Any], trace: list[Trace]) -> None:
    """Every answer has a trace to a source location that exists and holds its value."""
    for link_id, value in answers(bundle):
        hits = [t for t in trace if t.target == link_id and t.value == value]
        assert hits, f"answer {link_id}={value!r} has no trace"
        if hits[0].source.startswith("input:") or hits[0].source in ("default", "const"):
            continue
        found = source_value(fmt, raw, hits[0].source)
        if hits[0].computed:
            continue  # a function's value: its source location exists, the text differs
        assert found not in (None, "", {}), f"{hits[0].source} holds nothing"
        if isinstance(value, (str, int, bool)) and not isinstance(found, dict):
            assert _same(found, value), (link_id, value, found)


def _same(found: Any, value: Any) -> bool:
    text = str(found).strip().lower()
    want = str(value).lower()
    # A date may come compact (20260914); a dateTime gains its zone; a boolean may be "true".
    return text == want or text == want.replace("-", "") or want.startswith(text)
