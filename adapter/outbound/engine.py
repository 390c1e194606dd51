"""The outbound mapping engine: ``mappings/outbound/*.yaml`` compiled to Python closures.

Each mapping is compiled once (its nodes, sources and FHIRPath expressions, :func:`plan_for`);
building a document runs the closures, which resolve each node's source in the current context (a
resource of the Bundle, a QuestionnaireResponse item group, an assessment-summary object) and
write lxml elements. It holds no element names of its own: those are data in the mapping file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

from lxml import etree

from adapter import fhirpath, messages
from adapter.fhir import identifiers as ids
from adapter.fhir.registry import Registry, default_registry
from adapter.fhir.submission import Submission
from adapter.outbound.assessment import AnswerIndex, Assessment
from adapter.outbound.mapping import SOURCE_KEYS, OutboundMapping

IDENT_SYSTEMS = {
    "hsa": (ids.HSA_ID,),
    "orgnr": (ids.ORGANISATIONSNUMMER,),
    "kommunkod": (ids.KOMMUNKOD,),
    "person": (ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER),
}
XML_SIGNATURE_FORMAT = "application/signature+xml"


@dataclass(frozen=True)
class Context:
    """What one document is built from: the engine's named values, the Bundle's resources and the
    answer index shared with the assessment summary."""

    values: dict[str, Any]
    resources: dict[str, Any]
    index: AnswerIndex = field(default_factory=AnswerIndex)


_SIMPLE = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)(\.first\(\))?")

Path = Callable[[Any], list[Any]]


def compile_path(expression: str) -> Path:
    """A FHIRPath expression as a function of one plain JSON object; nothing (not an error) when
    there is no object.

    Plain member paths (``address.line``, optionally ``.first()``) are walked directly, with
    FHIRPath's flattening of collections; everything else is compiled once by
    :mod:`adapter.fhirpath` (closures; fhirpathpy only for what its compiler does not cover).
    """
    simple = _SIMPLE.fullmatch(expression)
    if simple is None:
        compiled = fhirpath.compile(expression)

        def general(obj: Any) -> list[Any]:
            return [] if obj is None else compiled(obj)
        return general
    names = tuple(simple.group(1).split("."))
    first = simple.group(2) is not None

    def plain(obj: Any) -> list[Any]:
        if obj is None:
            return []
        found: list[Any] = [obj]
        for name in names:
            step: list[Any] = []
            for node in found:
                value = node.get(name) if isinstance(node, dict) else None
                if isinstance(value, list):
                    step.extend(v for v in value if v is not None)
                elif value is not None:
                    step.append(value)
            found = step
        return found[:1] if first else found
    return plain


@lru_cache(maxsize=512)
def _path(expression: str) -> Path:
    return compile_path(expression)


def evaluate(expression: str, obj: Any) -> list[Any]:
    """A FHIRPath expression on a plain JSON object (compiled once per expression text)."""
    return _path(expression)(obj)


# -- the mapping compiled to closures -----------------------------------------------------------------
#
# Each node of a mapping becomes one function ``emit(run, parent, resource, item, summary)`` that
# writes its elements under ``parent``; each source becomes ``source(run, resource, item, summary)``
# returning its values. The three context slots are what a node is evaluated in: the resource of
# the Bundle, the QuestionnaireResponse item group and the assessment-summary object in scope
# (None: the document's own, ``run.response`` / ``run.summary``). The mapping file is compiled once
# (:func:`plan_for`); a document only runs the closures.

class _Run:
    """The state of one document: its named values, resources and answer index."""

    __slots__ = ("values", "resources", "index", "response", "summary", "registry")

    def __init__(self, ctx: Context, registry: Registry | None) -> None:
        self.values, self.resources, self.index = ctx.values, ctx.resources, ctx.index
        self.response: Any = ctx.values.get("response")
        self.summary: Any = ctx.values.get("summary")
        self.registry = registry


Source = Callable[[_Run, Any, Any, Any], list[Any]]
Emit = Callable[[_Run, etree._Element, Any, Any, Any], None]
Contexts = Callable[[_Run, Any, Any, Any], list[tuple[Any, Any, Any]]]


def _field(obj: Any, name: str) -> Any:
    """A field of an assessment-summary object: a dataclass of :mod:`~adapter.outbound.assessment`
    or its plain-data form (:meth:`~adapter.outbound.assessment.Assessment.as_dict`)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _compile_source(spec: dict[str, Any]) -> Source:
    if "literal" in spec:
        literal = [spec["literal"]]
        return lambda run, resource, item, summary: literal
    if "value" in spec:
        name = spec["value"]

        def value(run: _Run, resource: Any, item: Any, summary: Any) -> list[Any]:
            found = run.values.get(name)
            return [] if found is None else [found]
        return value
    if "answer" in spec:
        link_id = spec["answer"]
        return lambda run, resource, item, summary: run.index.answers(item or run.response, link_id)
    if "path" in spec:
        path = compile_path(spec["path"])
        return lambda run, resource, item, summary: [v for v in path(resource) if v not in (None, "")]
    if "ident" in spec:
        systems = IDENT_SYSTEMS[spec["ident"]]
        return lambda run, resource, item, summary: _identifiers(resource, systems)
    if "summary" in spec:
        key = spec["summary"]

        def summary_field(run: _Run, resource: Any, item: Any, summary: Any) -> list[Any]:
            found = _field(summary or run.summary, key)
            return [] if found is None else [found]
        return summary_field
    return lambda run, resource, item, summary: []


def _compile_contexts(spec: dict[str, Any] | None) -> Contexts | None:
    """``for``: the contexts a node's element is written in, once each (None: the node's own, once)."""
    if not spec:
        return None
    if "item" in spec:
        link_id = spec["item"]
        return lambda run, resource, item, summary: [
            (resource, found, summary) for found in run.index.items(item or run.response, link_id)]
    if "summary" in spec:
        key = spec["summary"]

        def summaries(run: _Run, resource: Any, item: Any, summary: Any) -> list[tuple[Any, Any, Any]]:
            found = _field(summary or run.summary, key)
            objects = list(found) if isinstance(found, (list, tuple)) else [found] if found is not None else []
            return [(resource, item, s) for s in objects]
        return summaries
    if "path" in spec:
        path = compile_path(spec["path"])
        return lambda run, resource, item, summary: [(r, item, summary) for r in path(resource)]
    name = spec["value"]
    return lambda run, resource, item, summary: [(r, item, summary) for r in run.values.get(name) or []]


def _compile_node(node: dict[str, Any], ns: str, link_ids: frozenset[str]) -> Emit:
    condition: str | None = node.get("if")
    switch = "resource" in node
    resource_name: str = node.get("resource", "")
    tag = f"{{{ns}}}{node['element']}"
    if node.get("unmapped_answers"):
        def unmapped(run: _Run, parent: etree._Element, resource: Any, item: Any, summary: Any) -> None:
            if condition is not None and not run.values.get(condition):
                return
            for link_id, value in unmapped_answers(run.response or {}, link_ids, run.index):
                el = etree.SubElement(parent, tag)
                el.set("linkId", link_id)
                _put(run, el, value)
        return unmapped
    contexts = _compile_contexts(node.get("for"))
    has_source = any(k in node for k in SOURCE_KEYS)
    source = _compile_source(node) if has_source else None
    attributes = tuple((name, _compile_source(spec)) for name, spec in (node.get("attributes") or {}).items())
    children = tuple(_compile_node(child, ns, link_ids) for child in node.get("children") or [])
    if source is not None and contexts is None and not attributes and not children and not switch:
        # A leaf (most nodes): one element per value of its source, nothing else to do.
        def leaf(run: _Run, parent: etree._Element, resource: Any, item: Any, summary: Any) -> None:
            if condition is not None and not run.values.get(condition):
                return
            for value in source(run, resource, item, summary):
                el = etree.SubElement(parent, tag)
                if type(value) is str:
                    el.text = value
                elif value is not None:
                    _put(run, el, value)
        return leaf

    def element(run: _Run, parent: etree._Element, resource: Any, item: Any, summary: Any) -> None:
        for value in source(run, resource, item, summary) if source is not None else (None,):
            el = etree.SubElement(parent, tag)
            if value is not None:
                _put(run, el, value)
            for name, attribute in attributes:
                for attr in attribute(run, resource, item, summary)[:1]:
                    el.set(name, _text(attr))
            for child in children:
                child(run, el, resource, item, summary)
            if source is None and len(el) == 0 and not el.attrib:
                parent.remove(el)  # an optional group with nothing in it

    def emit(run: _Run, parent: etree._Element, resource: Any, item: Any, summary: Any) -> None:
        if condition is not None and not run.values.get(condition):
            return
        if switch:
            resource = run.resources.get(resource_name)
        if contexts is None:
            element(run, parent, resource, item, summary)
            return
        for each in contexts(run, resource, item, summary):
            element(run, parent, *each)
    return emit


@dataclass(frozen=True)
class Plan:
    """A mapping compiled to closures: the root's tag, its attributes' sources and the body's nodes."""

    namespace: str
    tag: str
    attributes: tuple[tuple[str, Source], ...]
    body: tuple[Emit, ...]


def compile_mapping(mapping: OutboundMapping) -> Plan:
    """Compile every node, source and FHIRPath expression of ``mapping``."""
    return Plan(namespace=mapping.namespace, tag=f"{{{mapping.namespace}}}{mapping.root}",
                attributes=tuple((name, _compile_source(spec)) for name, spec in mapping.root_attributes.items()),
                body=tuple(_compile_node(node, mapping.namespace, mapping.link_ids) for node in mapping.body))


_PLANS: dict[int, tuple[OutboundMapping, Plan]] = {}


def plan_for(mapping: OutboundMapping) -> Plan:
    """The compiled form of ``mapping``, made once per mapping (the mappings are read once, too)."""
    found = _PLANS.get(id(mapping))
    if found is None or found[0] is not mapping:
        found = _PLANS[id(mapping)] = (mapping, compile_mapping(mapping))
    return found[1]


def build_document(mapping: OutboundMapping, ctx: Context, registry: Registry | None) -> etree._Element:
    """The municipal XML tree for one submission (not yet schema-validated)."""
    plan = plan_for(mapping)
    run = _Run(ctx, registry)
    # lxml-stubs type nsmap keys as str only; lxml takes None for the default namespace.
    root = etree.Element(plan.tag, nsmap={None: plan.namespace})  # type: ignore[dict-item]
    for name, source in plan.attributes:
        for value in source(run, None, None, None):
            root.set(name, _text(value))
    for emit in plan.body:
        emit(run, root, None, None, None)
    return root


def _put(run: _Run, el: etree._Element, value: Any) -> None:
    if type(value) is str:
        el.text = value
    elif isinstance(value, dict) and "code" in value:
        system = value.get("system") or ""
        el.set("kod", str(value["code"]))
        el.set("kodsystem", ids.normalise_system(system) or "")
        el.text = value.get("display") or _display(run, system, value["code"])
    else:
        el.text = _text(value)


def _display(run: _Run, system: str, code: str) -> str | None:
    """The display of a code sent without one, from our CodeSystems (loaded only when needed)."""
    if run.registry is None:
        run.registry = default_registry()
    cs = run.registry.resolve(system, "CodeSystem") if system else None
    stack = list((cs or {}).get("concept") or [])
    while stack:
        concept = stack.pop()
        if concept.get("code") == code:
            return cast("str | None", concept.get("display"))
        stack.extend(concept.get("concept") or [])
    return None


def unmapped_answers(qr: dict[str, Any], named: frozenset[str],
                     index: AnswerIndex | None = None) -> Iterator[tuple[str, Any]]:
    """(linkId, value) of every answer whose linkId the mapping does not name, in document order
    (:func:`adapter.fhir.items.walk`'s order: the answer index's own walk records it)."""
    return iter([(link_id, v) for link_id, values in (index or AnswerIndex()).in_order(qr)
                 if link_id not in named for v in values])


def _identifiers(resource: Any, systems: tuple[str, ...]) -> list[str]:
    for ident in (resource or {}).get("identifier") or []:
        if isinstance(ident, dict) and ids.normalise_system(ident.get("system")) in systems:
            return [ident["value"]] if isinstance(ident.get("value"), str) else []
    return []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def submission_values(sub: Submission, summary: Assessment | dict[str, Any], *, status: str,
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
