"""The mapping engine: runs a mapping file's rules over a source and fills the template.

One generic walk for every format: ``header`` rules give the Bundle's header values, ``items``
rules give answers by linkId, ``group`` rules open one group instance per context their ``for``
selector finds. Every problem is collected (never the first only) with the source location,
the target and the line of the rule in the mapping file.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from adapter.fhir import identifiers
from adapter.fhir.registry import Registry
from adapter.inbound import codes, values
from adapter.inbound.bundle import HEADER_FIELDS, REQUIRED_HEADER
from adapter.inbound.mapping import Condition, Mapping, Rule
from adapter.inbound.sources import SelectorError, Source
from adapter.inbound.template import Instance, Template
from adapter.issues import Issues

# Where each header field ends up, as FHIRPath on the submission (for error expressions).
_HEADER_EXPR = {
    "certificate.id": "QuestionnaireResponse.identifier", "questionnaire": "QuestionnaireResponse.questionnaire",
    "status": "QuestionnaireResponse.status",
    "authored": "QuestionnaireResponse.authored", "timestamp": "Bundle.timestamp",
    "event": "MessageHeader.eventCoding", "replaces": "QuestionnaireResponse.extension",
    "patient": "Patient", "practitioner": "Practitioner", "careUnit": "Organization",
    "careProvider": "Organization", "recipient": "Organization", "source": "MessageHeader.source",
}


def target_expression(target: str, *, header: bool) -> str:
    """FHIRPath of a mapping target: an item by linkId, or the element a header field fills."""
    if not header:
        return f"QuestionnaireResponse.repeat(item).where(linkId='{target}')"
    if target in _HEADER_EXPR:
        return _HEADER_EXPR[target]
    head, _, rest = target.partition(".")
    return f"{_HEADER_EXPR.get(head, head)}.{rest}"


class _Reported(Exception):
    """A value's problem is already an issue; skip the value."""


@dataclass(frozen=True)
class Trace:
    """One mapped value and where it came from (the answer is traceable to the input)."""

    target: str
    source: str
    value: Any


@dataclass
class Engine:
    mapping: Mapping
    source: Source
    registry: Registry
    issues: Issues
    conceptmaps: Registry = field(default_factory=Registry)
    """ConceptMaps of mappings/codes/ and the mapping file, looked up before ``registry``."""
    header: dict[str, Any] = field(default_factory=dict)
    trace: list[Trace] = field(default_factory=list)
    template: Template | None = None

    # -- reporting -----------------------------------------------------------------------------
    def report(self, message_id: str, rule: Rule, source: str, *, header: bool = False,
               severity: str = "error", code: str = "invalid", **args: Any) -> None:
        target = rule.name
        self.issues.add(message_id, expression=None, severity=severity, code=code,
                        diagnostics=f"{self.mapping.label}:{rule.line}", source=source, target=target,
                        line=rule.line, **args)
        added = self.issues.items[-1]
        added["location"] = [source]
        added["expression"] = [source, target_expression(target, header=header)]

    # -- selection -----------------------------------------------------------------------------
    def select(self, rule: Rule, ctx: Any, selector: str) -> list[Any]:
        try:
            return self.source.select(ctx, selector)
        except SelectorError:
            self.issues.add("LISN_MAP_SELECTOR_INVALID", diagnostics=f"{self.mapping.label}:{rule.line}",
                            selector=selector, file=self.mapping.label, line=rule.line)
            return []

    def first_value(self, rule: Rule, ctx: Any, selector: str) -> Any:
        for node in self.select(rule, ctx, selector):
            self.source.mark(node)
            found = self.source.value(node)
            if found is not None:
                return found
        return None

    def holds(self, rule: Rule, cond: Condition, ctx: Any) -> bool:
        found = self.first_value(rule, ctx, cond.path)
        if cond.exists is not None:
            return (found is not None) == cond.exists
        text = _text(found)
        if cond.one_of:
            return text in {_text(v) for v in cond.one_of}
        return text == _text(cond.equals)

    # -- conversion ----------------------------------------------------------------------------
    def convert(self, rule: Rule, node: Any, kind: str, *, header: bool) -> Any:
        if kind in values.COMPOSITE_PARTS:
            return self.composite(rule, node, kind, header=header)
        if kind == "resource":
            self.source.mark(node)
            reader = getattr(self.source, "resource", None)
            return copy.deepcopy(reader(node)) if reader else None
        self.source.mark(node)
        raw = self.source.value(node)
        if raw is None:
            return None
        try:
            out = values.SCALAR[kind](raw, timezone=self.mapping.timezone)
        except values.ConversionError as exc:
            self.report("LISN_MAP_VALUE_INVALID", rule, self.source.location(node), header=header,
                        type=kind, reason=str(exc))
            raise _Reported() from None
        return rule.pattern.format(out) if rule.pattern else out

    def parts(self, rule: Rule, node: Any, kind: str) -> dict[str, Any]:
        spec = rule.parts or self.mapping.parts.get(kind) or {p: p for p in values.COMPOSITE_PARTS[kind]}
        found = {name: self.first_value(rule, node, sel) for name, sel in spec.items()}
        if all(v is None for v in found.values()):
            # A bare scalar (a FLAT code, a JSON string) is the main part itself.
            self.source.mark(node)
            found[values.REQUIRED_PART[kind]] = self.source.value(node)
        return found

    def composite(self, rule: Rule, node: Any, kind: str, *, header: bool) -> Any:
        got = self.parts(rule, node, kind)
        if got.get(values.REQUIRED_PART[kind]) is None:
            return None
        where = self.source.location(node)
        try:
            if kind == "quantity":
                return values.quantity(got)
            system = self.system(got.get("system") or rule.system)
            if kind == "identifier":
                return {"system": system, "value": values.to_string(got["value"])}
            return self.coding(rule, where, system, values.to_string(got["code"]), got.get("display"))
        except values.ConversionError as exc:
            self.report("LISN_MAP_VALUE_INVALID", rule, where, header=header, type=kind, reason=str(exc))
            raise _Reported() from None

    def system(self, raw: Any) -> str | None:
        if raw is None:
            return None
        text = str(raw).strip()
        return identifiers.normalise_system(self.mapping.systems.get(text, text))

    def coding(self, rule: Rule, where: str, system: str | None, code: str, display: Any) -> dict[str, Any]:
        if rule.map:
            cm = codes.find_conceptmap(self.conceptmaps, rule.map) or codes.find_conceptmap(self.registry, rule.map)
            if cm is None:
                self.issues.add("LISN_MAP_CONCEPTMAP_UNKNOWN", diagnostics=f"{self.mapping.label}:{rule.line}",
                                conceptmap=rule.map, line=rule.line)
                raise _Reported()
            item = self.template.get(rule.target or "") if self.template else None
            hit = codes.translate(cm, system, code,
                                  codes.value_set_systems(self.registry, item.value_set if item else None))
            if hit is None:
                self.report("LISN_MAP_CODE_UNMAPPED", rule, where, code="code-invalid", conceptmap=rule.map,
                            system=system or "-", sourceCode=code)
                raise _Reported()
            system, code = hit
        shown = codes.display_for(self.registry, system, code) if system else None
        return {"system": system, "code": code, "display": shown or (str(display) if display else None)}

    # -- rules ---------------------------------------------------------------------------------
    def values_of(self, rule: Rule, ctx: Any, kind: str, *, header: bool) -> tuple[list[tuple[Any, str]], bool]:
        """The converted values of a rule, with their locations; the flag says "no value is fine"
        (an issue was already raised, or the rule's condition does not hold)."""
        if rule.when and not self.holds(rule, rule.when, ctx):
            return [], True
        out: list[tuple[Any, str]] = []
        failed = False
        for node in self.select(rule, ctx, rule.source) if rule.source else []:
            try:
                got = self.convert(rule, node, kind, header=header)
            except _Reported:
                failed = True
                continue
            if got is not None:
                out.append((got, self.source.location(node)))
        if not out and not failed and rule.default is not None:
            out.append((self.default(rule, kind), "default"))
        return out, failed

    def default(self, rule: Rule, kind: str) -> Any:
        if kind == "coding" and isinstance(rule.default, dict):
            return {k: v for k, v in rule.default.items() if k != "__line__"}
        convert: Callable[..., Any] = values.SCALAR.get(kind, values.to_string)
        return convert(rule.default, timezone=self.mapping.timezone)

    def run_header(self, ctx: Any) -> None:
        for rule in self.mapping.header:
            target = str(rule.target)
            kind = rule.convert or HEADER_FIELDS.get(target)
            if kind is None:
                self.issues.add("LISN_MAP_FILE_INVALID", diagnostics=f"{self.mapping.label}:{rule.line}",
                                file=self.mapping.label, line=rule.line, problem=f"unknown header field '{target}'")
                continue
            found, failed = self.values_of(rule, ctx, kind, header=True)
            self.store_header(rule, ctx, found, failed)

    def store_header(self, rule: Rule, ctx: Any, found: list[tuple[Any, str]], failed: bool) -> None:
        target = str(rule.target)
        where = self.source.describe(ctx, rule.source or "")
        if not found:
            required = rule.required if rule.required is not None else target in REQUIRED_HEADER
            if required and not failed:
                self.report("LISN_MAP_REQUIRED_MISSING", rule, where, header=True, code="required")
            return
        if len(found) > 1:
            self.report("LISN_MAP_TOO_MANY", rule, where, header=True, count=len(found))
        if target not in self.header:
            self.header[target] = found[0][0]
            self.trace.append(Trace(target, found[0][1], found[0][0]))

    def run_items(self, rules: tuple[Rule, ...], ctx: Any, inst: Instance) -> None:
        for rule in rules:
            if rule.group:
                self.run_group(rule, ctx, inst)
            else:
                self.run_value(rule, ctx, inst)

    def host(self, inst: Instance, link_id: str) -> tuple[Instance, bool]:
        """The instance that holds ``link_id`` below ``inst``; the flag says every group between is required."""
        assert self.template is not None
        chain = self.template.between(inst.link_id, link_id) or []
        for group in chain:
            inst = inst.single(group)
        return inst, all(self.template.items[g].required for g in chain)

    def run_group(self, rule: Rule, ctx: Any, inst: Instance) -> None:
        assert self.template is not None and rule.group is not None
        item = self.template.items[rule.group]
        host, chain_required = self.host(inst, rule.group)
        contexts = self.select(rule, ctx, rule.each) if rule.each else [ctx]
        if rule.when:
            contexts = [c for c in contexts if self.holds(rule, rule.when, c)]
        if rule.order_by:
            contexts.sort(key=lambda c: _order(self.first_value(rule, c, str(rule.order_by))))
        where = self.source.describe(ctx, rule.each or ".")
        required = rule.required if rule.required is not None else (
            item.required and not item.conditional and chain_required)
        if not contexts and required:
            self.report("LISN_MAP_REQUIRED_MISSING", rule, where, code="required")
        if len(contexts) > 1 and not item.repeats:
            self.report("LISN_MAP_TOO_MANY", rule, where, count=len(contexts))
            contexts = contexts[:1]
        for c in contexts:
            child = host.new(rule.group) if item.repeats else host.single(rule.group)
            if rule.each:
                child.origin = self.source.location(c)
            self.run_items(rule.rules, c, child)

    def run_value(self, rule: Rule, ctx: Any, inst: Instance) -> None:
        assert self.template is not None and rule.target is not None
        item = self.template.items[rule.target]
        kind = rule.convert or values.CONVERSION_FOR_TYPE.get(item.type, "string")
        found, failed = self.values_of(rule, ctx, kind, header=False)
        host, chain_required = self.host(inst, rule.target)
        where = self.source.describe(ctx, rule.source or "")
        if not found:
            required = rule.required if rule.required is not None else (
                item.required and not item.conditional and chain_required)
            if required and not failed:
                self.report("LISN_MAP_REQUIRED_MISSING", rule, where, code="required")
            return
        if len(found) > 1 and not item.repeats:
            self.report("LISN_MAP_TOO_MANY", rule, where, count=len(found))
            found = found[:1]
        key = values.ANSWER_KEY.get(item.type, "valueString")
        host.answers.setdefault(rule.target, []).extend({key: v} for v, _ in found)
        host.sources.setdefault(rule.target, []).extend(loc for _, loc in found)
        self.trace.extend(Trace(rule.target, loc, v) for v, loc in found)

    # -- the source's own signature ------------------------------------------------------------
    def signature(self) -> str | None:
        if not self.mapping.signature:
            return None
        for node in self.source.select(self.source.root, self.mapping.signature):
            if isinstance(node, etree._Element):
                self.source.mark(node)
                # Exclusive c14n: the signature element as its signer canonicalised it, ns context dropped.
                return base64.b64encode(etree.tostring(node, method="c14n", exclusive=True)).decode("ascii")
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).strip()


def _order(value: Any) -> tuple[int, Any]:
    try:
        return (0, int(str(value)))
    except (TypeError, ValueError):
        return (1, _text(value))
