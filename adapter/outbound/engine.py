"""The outbound mapping engine: ``mappings/outbound/*.yaml`` generated as Python source.

Each mapping is written once as one straight-line Python function and compiled
(:func:`generate_body`, :func:`generated_for`); building a document runs it: it resolves each
node's source in the current context (a resource of the Bundle, a QuestionnaireResponse item
group, an assessment-summary object) and writes the document as the XML bytes that are sent,
which lxml parses once for the schema check and the signer (:func:`build_serialised`). The same
mapping compiled to closures (:func:`plan_for`, :func:`build_document`) is the oracle the
generated code is tested against. It holds no element names of its own: those are data in the
mapping file.
"""

from __future__ import annotations

import re
import threading
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
# Each node of a mapping becomes one function ``emit(run, out, resource, item, summary)`` that
# writes its elements, as XML text, to the list ``out``; each source becomes
# ``source(run, resource, item, summary)`` returning its values. The three context slots are what a
# node is evaluated in: the resource of the Bundle, the QuestionnaireResponse item group and the
# assessment-summary object in scope (None: the document's own, ``run.response`` / ``run.summary``).
# The mapping file is compiled once (:func:`plan_for`); a document only runs the closures, and lxml
# parses the text once (:func:`build_document`): parsing 100 elements takes about a third of the
# time making them one by one with ``etree.SubElement`` took, and building the example document
# became 15-20% faster. The text is escaped so that the parsed tree is the tree those calls made:
# the same elements, attributes and texts (tests hold the documents byte for byte to before).

class _Run:
    """The state of one document: its named values, resources and answer index."""

    __slots__ = ("values", "resources", "index", "response", "summary", "registry", "empty_text")

    def __init__(self, ctx: Context, registry: Registry | None) -> None:
        self.values, self.resources, self.index = ctx.values, ctx.resources, ctx.index
        self.response: Any = ctx.values.get("response")
        self.summary: Any = ctx.values.get("summary")
        self.registry = registry
        self.empty_text = False
        """An element has the text "" (written as ``EMPTY_TEXT``, set after parsing)."""


Source = Callable[[_Run, Any, Any, Any], list[Any]]
Emit = Callable[[_Run, list[str], Any, Any, Any], None]
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


def _checked_name(name: str) -> str:
    """``name`` if lxml takes it as an element and attribute name without a namespace, else
    ValueError (what writing the element with lxml raised)."""
    etree.Element("x").set(name, "")
    etree.QName(name)
    if "{" in name:
        raise ValueError(f"Invalid tag name {name!r}")
    return name


def _compile_node(node: dict[str, Any], ns: str, link_ids: frozenset[str]) -> Emit:
    condition: str | None = node.get("if")
    switch = "resource" in node
    resource_name: str = node.get("resource", "")
    name = _checked_name(node["element"])
    start, end = f"<{name}", f"</{name}>"
    if node.get("unmapped_answers"):
        def unmapped(run: _Run, out: list[str], resource: Any, item: Any, summary: Any) -> None:
            if condition is not None and not run.values.get(condition):
                return
            for link_id, value in unmapped_answers(run.response or {}, link_ids, run.index):
                coded, text = _leaf_content(run, value)
                out.append(f'{start} linkId="{escape_attribute(_text(link_id))}"{coded}>{text}{end}')
        return unmapped
    contexts = _compile_contexts(node.get("for"))
    has_source = any(k in node for k in SOURCE_KEYS)
    source = _compile_source(node) if has_source else None
    attributes = tuple((_checked_name(name), _compile_source(spec))
                       for name, spec in (node.get("attributes") or {}).items())
    children = tuple(_compile_node(child, ns, link_ids) for child in node.get("children") or [])
    if source is not None and contexts is None and not attributes and not children and not switch:
        # A leaf (most nodes): one element per value of its source, nothing else to do.
        opened = start + ">"

        def leaf(run: _Run, out: list[str], resource: Any, item: Any, summary: Any) -> None:
            if condition is not None and not run.values.get(condition):
                return
            for value in source(run, resource, item, summary):
                if type(value) is str and value:
                    out.append(f"{opened}{escape_text(value)}{end}")
                elif value is None:
                    out.append(opened + end)
                else:
                    coded, text = _leaf_content(run, value)
                    out.append(f"{start}{coded}>{text}{end}")
        return leaf

    def element(run: _Run, out: list[str], resource: Any, item: Any, summary: Any) -> None:
        for value in source(run, resource, item, summary) if source is not None else (None,):
            attrs: dict[str, str] = {}
            text = _content(run, value, attrs) if value is not None else ""
            for attr_name, attribute in attributes:
                for attr in attribute(run, resource, item, summary)[:1]:
                    attrs[attr_name] = _text(attr)
            first = len(out)
            out.append(f"{start}{_attributes(attrs)}>{text}" if attrs else f"{start}>{text}")
            mark = len(out)
            for child in children:
                child(run, out, resource, item, summary)
            if source is None and len(out) == mark and not attrs:
                del out[first:]  # an optional group with nothing in it
            else:
                out.append(end)

    def emit(run: _Run, out: list[str], resource: Any, item: Any, summary: Any) -> None:
        if condition is not None and not run.values.get(condition):
            return
        if switch:
            resource = run.resources.get(resource_name)
        if contexts is None:
            element(run, out, resource, item, summary)
            return
        for each in contexts(run, resource, item, summary):
            element(run, out, *each)
    return emit


@dataclass(frozen=True)
class Plan:
    """A mapping compiled to closures: the root's name (in the default namespace ``namespace``),
    its attributes' sources and the body's nodes."""

    namespace: str
    root: str
    attributes: tuple[tuple[str, Source], ...]
    body: tuple[Emit, ...]


def compile_mapping(mapping: OutboundMapping) -> Plan:
    """Compile every node, source and FHIRPath expression of ``mapping``; ValueError for a name
    that cannot be an element or attribute name."""
    return Plan(namespace=mapping.namespace, root=_checked_name(mapping.root),
                attributes=tuple((_checked_name(name), _compile_source(spec))
                                 for name, spec in mapping.root_attributes.items()),
                body=tuple(_compile_node(node, mapping.namespace, mapping.link_ids) for node in mapping.body))


_PLANS: dict[int, tuple[OutboundMapping, Plan]] = {}


def plan_for(mapping: OutboundMapping) -> Plan:
    """The compiled form of ``mapping``, made once per mapping (the mappings are read once, too)."""
    found = _PLANS.get(id(mapping))
    if found is None or found[0] is not mapping:
        found = _PLANS[id(mapping)] = (mapping, compile_mapping(mapping))
    return found[1]


# -- the mapping generated as Python source -----------------------------------------------------------
#
# The closures above interpret the mapping: every node is a call, every source another, every
# context a list of tuples. :func:`generate_body` writes the same walk as one straight-line Python
# function per mapping (a loop per ``for`` and per source, an ``if`` per condition, the element
# names as string constants, the contexts as local variables), compiled once per mapping
# (:func:`generated_for`). The closures stay as the oracle: a test holds the generated function's
# bytes to the closures' tree serialised by lxml, on every example, golden input and assessment case
# of both mappings (tests/unit/outbound/test_outbound_generated.py).
#
# The generated function writes the document exactly as ``etree.tostring`` writes the tree the
# closures make: an element with no text and no children as ``<a/>``, one whose text is "" as
# ``<a></a>``, so that these bytes are the document (:func:`build_serialised`), not serialised again.
# Nothing of the mapping file becomes code but through ``repr()`` (string constants) after the
# element and attribute names are checked as XML names (:func:`_checked_name`); compiled FHIRPath
# and other objects are bound by generated names, not written into the source.

class _Source:
    """Python source being written: lines at an indentation, fresh local names, constants."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def constant(self, value: Any, stem: str = "_k") -> str:
        name = self.fresh(stem)
        self.names[name] = value
        return name

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)


@dataclass(frozen=True)
class _Scope:
    """The context slots as Python expressions (``None`` where the document's own applies)."""

    resource: str = "None"
    item: str = "None"
    summary: str = "None"

    def item_node(self) -> str:
        return "response" if self.item == "None" else f"({self.item} or response)"

    def summary_object(self) -> str:
        return "summary" if self.summary == "None" else f"({self.summary} or summary)"


def _gen_values(src: _Source, spec: dict[str, Any], scope: _Scope, depth: int, var: str) -> tuple[int, bool]:
    """Lines that bind ``var`` to each value of the source ``spec`` in turn (as the closures'
    :func:`_compile_source` gives them): the depth of the lines that use ``var``, and whether they
    are in a loop of their own (a source of several values)."""
    if "literal" in spec:
        src.line(depth, f"{var} = {src.constant(spec['literal'])}")
        return depth, False
    if "value" in spec or "summary" in spec:
        got = (f"values.get({spec['value']!r})" if "value" in spec
               else f"_field({scope.summary_object()}, {spec['summary']!r})")
        src.line(depth, f"{var} = {got}")
        src.line(depth, f"if {var} is not None:")
        return depth + 1, False
    if "answer" in spec:
        src.line(depth, f"for {var} in index.answers({scope.item_node()}, {spec['answer']!r}):")
    elif "path" in spec:
        path = src.constant(compile_path(spec["path"]), "_path")
        src.line(depth, f"for {var} in {path}({scope.resource}):")
        src.line(depth + 1, f'if {var} is None or {var} == "":')
        src.line(depth + 2, "continue")
    elif "ident" in spec:
        systems = src.constant(IDENT_SYSTEMS[spec["ident"]])
        src.line(depth, f"for {var} in _identifiers({scope.resource}, {systems}):")
    else:
        src.line(depth, f"for {var} in ():")
    return depth + 1, True


def _gen_contexts(src: _Source, spec: dict[str, Any], scope: _Scope, depth: int) -> tuple[int, _Scope]:
    """Lines that loop over the contexts of ``for: spec`` (:func:`_compile_contexts`)."""
    if "item" in spec:
        var = src.fresh("item")
        src.line(depth, f"for {var} in index.items({scope.item_node()}, {spec['item']!r}):")
        return depth + 1, _Scope(scope.resource, var, scope.summary)
    if "summary" in spec:
        found, var = src.fresh("found"), src.fresh("summary")
        src.line(depth, f"{found} = _field({scope.summary_object()}, {spec['summary']!r})")
        src.line(depth, f"for {var} in ({found} if isinstance({found}, (list, tuple)) "
                        f"else () if {found} is None else ({found},)):")
        return depth + 1, _Scope(scope.resource, scope.item, var)
    var = src.fresh("resource")
    if "path" in spec:
        src.line(depth, f"for {var} in {src.constant(compile_path(spec['path']), '_path')}({scope.resource}):")
    else:
        src.line(depth, f"for {var} in values.get({spec['value']!r}) or ():")
    return depth + 1, _Scope(var, scope.item, scope.summary)


def _gen_node(src: _Source, node: dict[str, Any], scope: _Scope, depth: int, link_ids: frozenset[str]) -> None:
    """Lines that write ``node`` (what :func:`_compile_node`'s closure writes, closed as lxml
    writes an element)."""
    name = _checked_name(node["element"])
    start, end = f"<{name}", f"</{name}>"
    if "if" in node:
        src.line(depth, f"if values.get({node['if']!r}):")
        depth += 1
    if node.get("unmapped_answers"):
        var, value = src.fresh("link"), src.fresh("value")
        src.line(depth, f"for {var}, {value} in unmapped_answers(response or {{}}, {src.constant(link_ids)}, index):")
        src.line(depth + 1, f"append(_leaf(run, {src.constant(start + ' linkId=' + chr(34))} + "
                            f"escape_attribute(_text({var})) + '{chr(34)}', {end!r}, {value}))")
        return
    if "resource" in node:
        var = src.fresh("resource")
        src.line(depth, f"{var} = resources.get({node['resource']!r})")
        scope = _Scope(var, scope.item, scope.summary)
    if node.get("for"):
        depth, scope = _gen_contexts(src, node["for"], scope, depth)
    has_source = any(k in node for k in SOURCE_KEYS)
    attributes = [(_checked_name(n), spec) for n, spec in (node.get("attributes") or {}).items()]
    children = node.get("children") or []
    value = src.fresh("v")
    if has_source and not node.get("for") and not attributes and not children and "resource" not in node:
        # A leaf (most nodes): one element per value of its source.
        inner, _ = _gen_values(src, node, scope, depth, value)
        src.line(inner, f"if type({value}) is str and {value}:")
        src.line(inner + 1, f"append({(start + '>')!r} + escape_text({value}) + {end!r})")
        src.line(inner, f"elif {value} is None:")
        src.line(inner + 1, f"append({(start + '/>')!r})")
        src.line(inner, "else:")
        src.line(inner + 1, f"append(_leaf(run, {start!r}, {end!r}, {value}))")
        return
    first = src.fresh("first")
    if not has_source and not attributes:
        # A group: written when something is written inside it.
        src.line(depth, f"{first} = len(out)")
        src.line(depth, f"append({(start + '>')!r})")
        for child in children:
            _gen_node(src, child, scope, depth, link_ids)
        src.line(depth, f"if len(out) > {first} + 1:")
        src.line(depth + 1, f"append({end!r})")
        src.line(depth, "else:")
        src.line(depth + 1, f"del out[{first}:]")
        return
    if has_source:
        inner, _ = _gen_values(src, node, scope, depth, value)
    else:
        inner = depth
    attrs, text, head = src.fresh("attrs"), src.fresh("text"), src.fresh("head")
    src.line(inner, f"{attrs} = {{}}")
    if has_source:
        src.line(inner, f"{text} = None if {value} is None else _written_content(run, {value}, {attrs})")
    for attr_name, spec in attributes:
        attr = src.fresh("a")
        got, loop = _gen_values(src, spec, scope, inner, attr)
        src.line(got, f"{attrs}[{attr_name!r}] = _text({attr})")
        if loop:
            src.line(got, "break")  # the first value only
    src.line(inner, f"{head} = {start!r} + _attributes({attrs}) if {attrs} else {start!r}")
    src.line(inner, f"{first} = len(out)")
    src.line(inner, f"append({head})")
    for child in children:
        _gen_node(src, child, scope, inner, link_ids)
    # Closed as lxml writes it: with children, or its text ("": "<a></a>"), or none ("<a/>"); an
    # optional group (no source) with nothing in it and no attributes is left out.
    src.line(inner, f"if len(out) > {first} + 1:")
    src.line(inner + 1, f"out[{first}] = {head} + '>' + ({text} or '')" if has_source
             else f"out[{first}] = {head} + '>'")
    src.line(inner + 1, f"append({end!r})")
    if has_source:
        src.line(inner, f"elif {text} is not None:")
        src.line(inner + 1, f"out[{first}] = {head} + '>' + {text} + {end!r}")
        src.line(inner, "else:")
        src.line(inner + 1, f"out[{first}] = {head} + '/>'")
    else:
        src.line(inner, f"elif {attrs}:")
        src.line(inner + 1, f"out[{first}] = {head} + '/>'")
        src.line(inner, "else:")
        src.line(inner + 1, f"del out[{first}:]")


def generate_body(mapping: OutboundMapping) -> tuple[str, dict[str, Any]]:
    """The Python source of ``body(run, out)`` for ``mapping``, and the names it uses besides the
    engine's functions (compiled FHIRPath, constants). ValueError for a name that cannot be an
    element or attribute name."""
    src = _Source()
    src.line(0, "def body(run, out):")
    src.line(1, "values, resources, index = run.values, run.resources, run.index")
    src.line(1, "response, summary, append = run.response, run.summary, out.append")
    for node in mapping.body:
        _gen_node(src, node, _Scope(), 1, mapping.link_ids)
    return "\n".join(src.lines) + "\n", src.names


Body = Callable[[_Run, list[str]], None]


def compile_body(mapping: OutboundMapping) -> Body:
    """:func:`generate_body` compiled (once per mapping: :func:`generated_for`)."""
    text, names = generate_body(mapping)
    namespace: dict[str, Any] = {
        "_field": _field, "_identifiers": _identifiers, "_leaf": _leaf, "_text": _text,
        "_written_content": _written_content, "_attributes": _attributes, "escape_text": escape_text,
        "escape_attribute": escape_attribute, "unmapped_answers": unmapped_answers, **names}
    exec(compile(text, f"<outbound mapping {mapping.file}>", "exec"), namespace)
    return cast(Body, namespace["body"])


_BODIES: dict[int, tuple[OutboundMapping, Body, str, tuple[tuple[str, Source], ...]]] = {}


def generated_for(mapping: OutboundMapping) -> tuple[Body, str, tuple[tuple[str, Source], ...]]:
    """(the generated body, the root's start tag without its attributes, the root attributes'
    sources) of ``mapping``, made once per mapping."""
    found = _BODIES.get(id(mapping))
    if found is None or found[0] is not mapping:
        root = _checked_name(mapping.root)
        attributes = tuple((_checked_name(name), _compile_source(spec)) for name, spec in mapping.root_attributes.items())
        found = _BODIES[id(mapping)] = (mapping, compile_body(mapping), root, attributes)
    return found[1], found[2], found[3]


XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"


def build_serialised(mapping: OutboundMapping, ctx: Context,
                     registry: Registry | None) -> tuple[bytes, etree._Element]:
    """The municipal XML for one submission as the bytes sent (UTF-8, with the XML declaration,
    what ``etree.tostring(build_document(...), xml_declaration=True, encoding="UTF-8")`` gives, byte
    for byte) and its tree parsed from them (not yet schema-validated), by the generated code.

    ValueError when a value cannot be XML text (a control character, a lone surrogate).
    """
    body, root, attributes = generated_for(mapping)
    run = _Run(ctx, registry)
    attrs = {"xmlns": mapping.namespace}
    for name, source in attributes:
        for value in source(run, None, None, None):
            attrs[name] = _text(value)
    start = f"<{root}{_attributes(attrs)}"
    out = [XML_DECLARATION, start]
    body(run, out)
    if len(out) > 2:
        out[1] = start + ">"
        out.append(f"</{root}>")
    else:
        out[1] = start + "/>"
    xml = "".join(out).encode("utf-8")
    try:
        tree = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:  # a character XML 1.0 cannot carry
        raise ValueError(f"not XML text: {exc}") from None
    return xml, tree


def _written_content(run: _Run, value: Any, attrs: dict[str, str]) -> str | None:
    """:func:`_content` for the generated code: None for no text, "" for the text "" (which
    :func:`_content` writes as ``EMPTY_TEXT``)."""
    if isinstance(value, dict) and "code" in value:
        system = value.get("system") or ""
        attrs["kod"] = str(value["code"])
        attrs["kodsystem"] = ids.normalise_system(system) or ""
        text = value.get("display") or _display(run, system, value["code"])
        return None if text is None else escape_text(text)
    return escape_text(value if type(value) is str else _text(value))


def _leaf(run: _Run, start: str, end: str, value: Any) -> str:
    """One leaf element of ``value`` (not None) as lxml writes it: :func:`_written_content` and
    :func:`_attributes` written out for the one or two attributes a leaf has (a third of the
    generated code's time went to them)."""
    if isinstance(value, dict) and "code" in value:
        system = value.get("system") or ""
        code = value["code"]
        kodsystem = _normalised_system(system) if type(system) is str else ids.normalise_system(system) or ""
        head = (f'{start} kod="{escape_attribute(code if type(code) is str else str(code))}" '
                f'kodsystem="{escape_attribute(kodsystem)}"')
        text = value.get("display") or _display(run, system, code)
        return head + "/>" if text is None else f"{head}>{escape_text(text)}{end}"
    return f"{start}>{escape_text(value if type(value) is str else _text(value))}{end}"


@lru_cache(maxsize=256)
def _normalised_system(system: str) -> str:
    """``ids.normalise_system(system) or ""``; the same few code systems come in every document."""
    return ids.normalise_system(system) or ""


EMPTY_TEXT = "<?empty-text?>"
"""Stands for the text "" in the written document (XML text cannot say it: ``<a></a>`` parses as
no text, which lxml writes as ``<a/>``); :func:`build_document` sets it after parsing."""

_PARSER = threading.local()


def _parser() -> etree.XMLParser:
    """The parser of the engine's own text (one per thread: an lxml parser is not thread-safe).

    The text is escaped by :func:`escape_text` and :func:`escape_attribute`, so it holds no entity,
    no DOCTYPE and no markup that a value brought; ``huge_tree`` because lxml set no size limit on
    the texts of elements made with ``SubElement`` either (a kept original signature may be large).
    """
    parser: etree.XMLParser | None = getattr(_PARSER, "parser", None)
    if parser is None:
        parser = _PARSER.parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True,
                                                  remove_blank_text=False, remove_comments=False,
                                                  remove_pis=False)
    return parser


def build_document(mapping: OutboundMapping, ctx: Context, registry: Registry | None) -> etree._Element:
    """The municipal XML tree for one submission (not yet schema-validated).

    ValueError when a value cannot be XML text (a control character, a lone surrogate), as lxml
    raised it when the elements were made one by one.
    """
    plan = plan_for(mapping)
    run = _Run(ctx, registry)
    attrs = {"xmlns": plan.namespace}  # the default namespace: every element of the mapping is in it
    for name, source in plan.attributes:
        for value in source(run, None, None, None):
            attrs[name] = _text(value)
    out = [f"<{plan.root}{_attributes(attrs)}>"]
    for emit in plan.body:
        emit(run, out, None, None, None)
    out.append(f"</{plan.root}>")
    try:
        root = etree.fromstring("".join(out).encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:  # a character XML 1.0 cannot carry
        raise ValueError(f"not XML text: {exc}") from None
    if run.empty_text:
        for marker in list(root.iter(etree.ProcessingInstruction)):
            parent = marker.getparent()
            if parent is not None:
                parent.remove(marker)
                parent.text = ""
    return root


def escape_text(text: str) -> str:
    """``text`` as element content that parses back to exactly ``text``: ``&``, ``<`` and ``>``
    as entities, carriage return as a character reference (a parser reads a bare one as a line
    feed)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def escape_attribute(text: str) -> str:
    """``text`` as an attribute value in double quotes that parses back to exactly ``text`` (a
    parser normalises a bare tab, line feed or carriage return to a space)."""
    text = escape_text(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\t" in text:
        text = text.replace("\t", "&#9;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    return text


def _attributes(attrs: dict[str, str]) -> str:
    return "".join(f' {name}="{escape_attribute(value)}"' for name, value in attrs.items())


def _content(run: _Run, value: Any, attrs: dict[str, str]) -> str:
    """The element text of ``value`` (escaped); a coded value adds its ``kod`` and ``kodsystem``
    to ``attrs`` and gives its display (from our CodeSystems when it came without one)."""
    if isinstance(value, dict) and "code" in value:
        system = value.get("system") or ""
        attrs["kod"] = str(value["code"])
        attrs["kodsystem"] = ids.normalise_system(system) or ""
        return _escaped(run, value.get("display") or _display(run, system, value["code"]))
    return _escaped(run, value if type(value) is str else _text(value))


def _leaf_content(run: _Run, value: Any) -> tuple[str, str]:
    """:func:`_content` where no other attribute is written: (the ``kod`` and ``kodsystem``
    attributes as text, the element text)."""
    if isinstance(value, dict) and "code" in value:
        attrs: dict[str, str] = {}
        text = _content(run, value, attrs)
        return _attributes(attrs), text
    return "", _escaped(run, value if type(value) is str else _text(value))


def _escaped(run: _Run, text: str | None) -> str:
    if text is None:
        return ""
    if not text:
        run.empty_text = True
        return EMPTY_TEXT
    return escape_text(text)


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
