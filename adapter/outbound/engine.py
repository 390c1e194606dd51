"""The outbound mapping engine: one small interpreter for ``mappings/outbound/*.yaml``.

It walks the mapping's nodes, resolves each node's source in the current context (a resource of
the Bundle, a QuestionnaireResponse item group, an assessment-summary object) and writes lxml
elements. It holds no element names of its own: those are data in the mapping file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, cast

from fhirpathpy import compile as fhirpath_compile
from lxml import etree

from adapter import messages
from adapter.fhir import identifiers as ids
from adapter.fhir.items import walk
from adapter.fhir.registry import Registry, default_registry
from adapter.fhir.submission import Submission
from adapter.outbound.assessment import AnswerIndex
from adapter.outbound.mapping import OutboundMapping

IDENT_SYSTEMS = {
    "hsa": (ids.HSA_ID,),
    "orgnr": (ids.ORGANISATIONSNUMMER,),
    "kommunkod": (ids.KOMMUNKOD,),
    "person": (ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER),
}
XML_SIGNATURE_FORMAT = "application/signature+xml"


@dataclass(frozen=True)
class Context:
    """Where a node is evaluated: the resource, the QR item group and the summary object in scope."""

    values: dict[str, Any]
    resources: dict[str, Any]
    resource: Any = None
    item: Any = None
    summary: Any = None
    index: AnswerIndex = field(default_factory=AnswerIndex)


@lru_cache(maxsize=512)
def _fhirpath(expression: str) -> Callable[[Any], list[Any]]:
    # fhirpathpy types the context argument as required; at run time it defaults to None.
    return cast(Callable[[Any], list[Any]], fhirpath_compile(expression, None))


_SIMPLE = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)(\.first\(\))?")


def evaluate(expression: str, obj: Any) -> list[Any]:
    """A FHIRPath expression on a plain JSON object; nothing (not an error) when there is no object.

    Plain member paths (``address.line``, optionally ``.first()``) are walked directly, with
    FHIRPath's flattening of collections; everything else goes to fhirpathpy. Most paths of a
    mapping are plain, and fhirpathpy's interpreter was a third of the transformation time.
    """
    if obj is None:
        return []
    simple = _SIMPLE.fullmatch(expression)
    if simple is None:
        return list(_fhirpath(expression)(obj))
    found: list[Any] = [obj]
    for name in simple.group(1).split("."):
        step: list[Any] = []
        for node in found:
            value = node.get(name) if isinstance(node, dict) else None
            if isinstance(value, list):
                step.extend(v for v in value if v is not None)
            elif value is not None:
                step.append(value)
        found = step
    return found[:1] if simple.group(2) else found


def build_document(mapping: OutboundMapping, ctx: Context, registry: Registry | None) -> etree._Element:
    """The municipal XML tree for one submission (not yet schema-validated)."""
    # lxml-stubs type nsmap keys as str only; lxml takes None for the default namespace.
    root = etree.Element(f"{{{mapping.namespace}}}{mapping.root}",
                         nsmap={None: mapping.namespace})  # type: ignore[dict-item]
    for name, spec in mapping.root_attributes.items():
        for value in _source(spec, ctx):
            root.set(name, _text(value))
    writer = _Writer(mapping, registry)
    for node in mapping.body:
        writer.node(node, root, ctx)
    return root


class _Writer:
    def __init__(self, mapping: OutboundMapping, registry: Registry | None) -> None:
        self.ns = mapping.namespace
        self.mapping = mapping
        self.registry = registry

    def node(self, node: dict[str, Any], parent: etree._Element, ctx: Context) -> None:
        if "if" in node and not ctx.values.get(node["if"]):
            return
        if "resource" in node:
            ctx = replace(ctx, resource=ctx.resources.get(node["resource"]))
        if node.get("unmapped_answers"):
            self._unmapped(node, parent, ctx)
            return
        for each in _contexts(node.get("for"), ctx):
            self._element(node, parent, each)

    def _element(self, node: dict[str, Any], parent: etree._Element, ctx: Context) -> None:
        tag = f"{{{self.ns}}}{node['element']}"
        has_source = any(k in node for k in ("answer", "path", "ident", "value", "summary", "literal"))
        values = _source(node, ctx) if has_source else [None]
        for value in values:
            el = etree.SubElement(parent, tag)
            if value is not None:
                self._put(el, value)
            for name, spec in (node.get("attributes") or {}).items():
                for attr in _source(spec, ctx)[:1]:
                    el.set(name, _text(attr))
            for child in node.get("children") or []:
                self.node(child, el, ctx)
            if not has_source and len(el) == 0 and not el.attrib:
                parent.remove(el)  # an optional group with nothing in it

    def _put(self, el: etree._Element, value: Any) -> None:
        if isinstance(value, dict) and "code" in value:
            system = value.get("system") or ""
            el.set("kod", str(value["code"]))
            el.set("kodsystem", ids.normalise_system(system) or "")
            el.text = value.get("display") or self._display(system, value["code"])
        else:
            el.text = _text(value)

    def _display(self, system: str, code: str) -> str | None:
        """The display of a code sent without one, from our CodeSystems (loaded only when needed)."""
        if self.registry is None:
            self.registry = default_registry()
        cs = self.registry.resolve(system, "CodeSystem") if system else None
        stack = list((cs or {}).get("concept") or [])
        while stack:
            concept = stack.pop()
            if concept.get("code") == code:
                return cast("str | None", concept.get("display"))
            stack.extend(concept.get("concept") or [])
        return None

    def _unmapped(self, node: dict[str, Any], parent: etree._Element, ctx: Context) -> None:
        for link_id, value in unmapped_answers(ctx.values.get("response") or {}, self.mapping.link_ids):
            el = etree.SubElement(parent, f"{{{self.ns}}}{node['element']}")
            el.set("linkId", link_id)
            self._put(el, value)


def unmapped_answers(qr: dict[str, Any], named: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """(linkId, value) of every answer whose linkId the mapping does not name, in document order."""
    for visit in walk(qr):
        if visit.link_id not in named:
            yield from ((visit.link_id, v) for v in visit.values())


def _contexts(spec: dict[str, Any] | None, ctx: Context) -> list[Context]:
    if not spec:
        return [ctx]
    if "item" in spec:
        return [replace(ctx, item=found) for found in ctx.index.items(ctx.item or ctx.values["response"], spec["item"])]
    if "summary" in spec:
        found = (ctx.summary or ctx.values["summary"]).get(spec["summary"])
        items = list(found) if isinstance(found, (list, tuple)) else [found] if found is not None else []
        return [replace(ctx, summary=s) for s in items]
    if "path" in spec:
        return [replace(ctx, resource=r) for r in evaluate(spec["path"], ctx.resource)]
    found = ctx.values.get(spec["value"]) or []
    return [replace(ctx, resource=r) for r in found]


def _source(spec: dict[str, Any], ctx: Context) -> list[Any]:
    if "literal" in spec:
        return [spec["literal"]]
    if "value" in spec:
        value = ctx.values.get(spec["value"])
        return [] if value is None else [value]
    if "answer" in spec:
        return ctx.index.answers(ctx.item or ctx.values["response"], spec["answer"])
    if "path" in spec:
        return [v for v in evaluate(spec["path"], ctx.resource) if v not in (None, "")]
    if "ident" in spec:
        return _identifiers(ctx.resource, IDENT_SYSTEMS[spec["ident"]])
    if "summary" in spec:
        value = (ctx.summary or ctx.values["summary"]).get(spec["summary"])
        return [] if value is None else [value]
    return []


def _identifiers(resource: Any, systems: tuple[str, ...]) -> list[str]:
    for ident in (resource or {}).get("identifier") or []:
        if isinstance(ident, dict) and ids.normalise_system(ident.get("system")) in systems:
            return [ident["value"]] if isinstance(ident.get("value"), str) else []
    return []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def submission_values(sub: Submission, summary: dict[str, Any], *, status: str,
                      replaces: str | None, replaced_by: str | None = None) -> dict[str, Any]:
    """The named values (``value:`` in a mapping) the engine computes from the submission."""
    qr = sub.response or {}
    url, _, version = (sub.questionnaire or "").partition("|")
    person = sub.patient_identifier
    return {
        "response": qr,
        "summary": summary,
        "certificate_id": _bare_uuid(sub.certificate_id),
        "template_url": url,
        "template_version": version,
        "authored": sub.authored,
        "status": status,
        "replaces": _bare_uuid(replaces),
        "replaced_by": _bare_uuid(replaced_by),
        "status_text": status_text(status, replaces=_bare_uuid(replaces), replaced_by=_bare_uuid(replaced_by)),
        "consents": sub.consents,
        "person_id_type": person[0].rsplit("/", 1)[-1] if person else None,
        "protected_identity": sub.protected_identity,
        "identity_allowed": not sub.protected_identity,
        "xml_signatures": xml_signatures(sub),
    }


STATUS_TEXT = {"withdrawn": "LISN_OUTBOUND_STATUS_WITHDRAWN", "replaced": "LISN_OUTBOUND_STATUS_REPLACED",
               "replacing": "LISN_OUTBOUND_STATUS_REPLACING"}


def status_text(status: str, *, replaces: str | None = None, replaced_by: str | None = None) -> str | None:
    """What the status means for the reader, in Swedish (None for an original certificate)."""
    mid = STATUS_TEXT.get(status)
    return messages.text(mid, "sv", replaces=replaces or "", by=replaced_by or "") if mid else None


def xml_signatures(sub: Submission) -> list[dict[str, Any]]:
    """Signatures of format application/signature+xml on Provenances in the Bundle (kept, not verified)."""
    out = []
    for prov in sub.resources("Provenance"):
        for sig in prov.get("signature") or []:
            if isinstance(sig, dict) and sig.get("sigFormat") == XML_SIGNATURE_FORMAT and sig.get("data"):
                out.append(sig)
    return out


def _bare_uuid(value: str | None) -> str | None:
    return value[len("urn:uuid:"):] if value and value.startswith("urn:uuid:") else value
