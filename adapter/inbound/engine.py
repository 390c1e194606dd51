"""The mapping engine: runs a mapping file's rules over a source and fills the template.

One generic walk for every format: ``header`` rules give the Bundle's header values, ``items``
rules give answers by linkId, ``group`` rules open one group instance per context their ``for``
selector finds. Values come from selectors, side inputs and value functions
(:mod:`adapter.inbound.functions`); codes go through code tables and ConceptMaps
(:mod:`adapter.inbound.codes`). Every problem is collected (never the first only) with the
source location, the target and the line of the rule in the mapping file; a rule whose
selector or input already failed is not reported again as "missing".
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
from adapter.inbound.bundle import HEADER_FIELDS, REQUIRED_HEADER, REQUIRED_HEADER_ONE_OF
from adapter.inbound.expressions import Expr, selector
from adapter.inbound.functions import Evaluator, FunctionError, InputMissing, Item
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
    computed: bool = False
    """The value was computed by a function or came from a side input (not the text at ``source``)."""
    line: int = 0


Found = list[tuple[Any, Item]]


@dataclass
class Engine:
    mapping: Mapping
    source: Source
    registry: Registry
    issues: Issues
    conceptmaps: Registry = field(default_factory=Registry)
    """ConceptMaps of mappings/codes/ and the mapping file, looked up before ``registry``."""
    inputs: dict[str, Any] = field(default_factory=dict)
    failed_inputs: frozenset[str] = frozenset()
    header: dict[str, Any] = field(default_factory=dict)
    trace: list[Trace] = field(default_factory=list)
    template: Template | None = None
    failed: set[tuple[str, bool]] = field(default_factory=set)
    """(target, is_header) of every target with a reported problem: the validator's echo of it is left out."""
    skip: set[int] = field(default_factory=set)
    """Lines of rules that cannot run (an unknown linkId); the other rules still do."""
    _selector_errors: set[tuple[int, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ev = Evaluator(self.source, self.inputs, self.failed_inputs, self.mapping.timezone, self.lookup)

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
        if rule.note:
            # The mapping author's own words on why a rule may fail (e.g. "LISN 1.0 has one period").
            added["details"]["text"] += f" [{self.mapping.label}: {rule.note}]"
        self.failed.add((target, header))

    def selector_error(self, rule: Rule, text: str, reason: str, header: bool) -> None:
        self.failed.add((rule.name, header))
        if (rule.line, text) in self._selector_errors:
            return  # once per rule, not once per repeat
        self._selector_errors.add((rule.line, text))
        self.issues.add("LISN_MAP_SELECTOR_INVALID", diagnostics=f"{self.mapping.label}:{rule.line}",
                        selector=text, file=self.mapping.label, line=rule.line, reason=reason)

    # -- selection and expressions -------------------------------------------------------------
    def items(self, rule: Rule, expr: Expr, ctx: Any, *, header: bool = False, read: bool = False) -> list[Item]:
        """The items of ``expr``; a problem is reported (once) and raises _Reported."""
        try:
            return self.ev.read(expr, ctx) if read else self.ev.items(expr, ctx)
        except SelectorError as exc:
            self.selector_error(rule, expr.describe(), str(exc), header)
        except InputMissing:
            self.failed.add((rule.name, header))
        except FunctionError as exc:
            self.report("LISN_MAP_VALUE_INVALID", rule, self.source.describe(ctx, expr.describe()), header=header,
                        type=expr.fn, reason=str(exc))
        raise _Reported()

    def contexts(self, rule: Rule, ctx: Any, text: str) -> list[Any]:
        try:
            return self.source.select(ctx, text)
        except SelectorError as exc:
            self.selector_error(rule, text, str(exc), False)
            raise _Reported() from None

    def holds(self, rule: Rule, cond: Condition, ctx: Any, *, header: bool = False) -> bool:
        found = self.items(rule, cond.path, ctx, header=header, read=True)
        first = found[0].value if found else None
        if cond.exists is not None:
            return (first is not None) == cond.exists
        text = _text(first)
        if cond.one_of:
            return text in {_text(v) for v in cond.one_of}
        return text == _text(cond.equals)

    def lookup(self, table: str, code: str) -> str | None:
        """``translate`` function: a code through a code table, as text."""
        cm = self.find_map(table)
        hit = codes.translate(cm, None, code, resolve=self.find_map) if cm is not None else None
        if hit is None:
            raise FunctionError(f"the code '{code}' has no entry in the table '{table}'")
        return hit.code

    def find_map(self, ref: str) -> dict[str, Any] | None:
        for table in self.mapping.tables.values():
            if ref in (table["id"], table["url"]):
                return table
        return codes.find_conceptmap(self.conceptmaps, ref) or codes.find_conceptmap(self.registry, ref)

    # -- conversion ----------------------------------------------------------------------------
    def convert(self, rule: Rule, item: Item, kind: str, *, header: bool) -> Any:
        if item.node is not None:
            self.source.mark(item.node)
        if kind in values.COMPOSITE_PARTS:
            return self.composite(rule, self.parts(rule, item, kind, header), kind, item.location, header=header)
        if kind == "resource":
            reader = getattr(self.source, "resource", None)
            return copy.deepcopy(reader(item.node)) if reader and item.node is not None else None
        if item.value is None:
            return None
        try:
            out = values.SCALAR[kind](item.value, timezone=self.mapping.timezone)
        except values.ConversionError as exc:
            self.report("LISN_MAP_VALUE_INVALID", rule, item.location, header=header, type=kind, reason=str(exc))
            raise _Reported() from None
        return rule.pattern.format(out) if rule.pattern else out

    def parts(self, rule: Rule, item: Item, kind: str, header: bool) -> dict[str, Any]:
        main = values.REQUIRED_PART[kind]
        if item.node is None:
            return {main: item.value}
        spec = rule.parts or self.mapping.parts.get(kind) or {p: selector(p) for p in values.COMPOSITE_PARTS[kind]}
        found = {}
        for name, expr in spec.items():
            got = self.items(rule, expr, item.node, header=header, read=True)
            found[name] = got[0].value if got else None
        if all(v is None for v in found.values()):
            # A bare scalar (a FLAT code, a JSON string) is the main part itself.
            found[main] = item.value
        return found

    def from_parts(self, rule: Rule, ctx: Any, kind: str, header: bool) -> Found:
        """A composite whose parts are each an expression (e.g. two side inputs), without ``from``."""
        got: dict[str, Any] = {}
        where = ""
        for name, expr in rule.parts.items():
            found = self.items(rule, expr, ctx, header=header, read=True)
            got[name] = found[0].value if found else None
            where = where or (found[0].location if found else "")
        value = self.composite(rule, got, kind, where or "parts", header=header)
        return [] if value is None else [(value, Item(value, where or "parts", computed=True))]

    def composite(self, rule: Rule, got: dict[str, Any], kind: str, where: str, *, header: bool) -> Any:
        if got.get(values.REQUIRED_PART[kind]) is None:
            return None
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

    def coding(self, rule: Rule, where: str, system: str | None, code: str, display: Any) -> dict[str, Any] | None:
        own_display = str(display).strip() if display not in (None, "") else None
        if rule.map:
            cm = self.find_map(rule.map)
            if cm is None:
                self.issues.add("LISN_MAP_CONCEPTMAP_UNKNOWN", diagnostics=f"{self.mapping.label}:{rule.line}",
                                conceptmap=rule.map, line=rule.line)
                self.failed.add((rule.name, False))
                raise _Reported()
            item = self.template.get(rule.target or "") if self.template else None
            hit = codes.translate(cm, system, code,
                                  codes.value_set_systems(self.registry, item.value_set if item else None),
                                  resolve=self.find_map)
            if hit is None:
                self.report("LISN_MAP_CODE_UNMAPPED", rule, where, code="code-invalid", conceptmap=rule.map,
                            system=system or "-", sourceCode=code)
                raise _Reported()
            if hit.code is None:
                return None  # the table says: no counterpart (the source value was read)
            # A translated code never keeps the source's display (it names the source code).
            system, code, own_display = hit.system, hit.code, hit.display
        shown = codes.display_for(self.registry, system, code) if system else None
        return {"system": system, "code": code, "display": shown or own_display}

    # -- rules ---------------------------------------------------------------------------------
    def values_of(self, rule: Rule, ctx: Any, kind: str, *, header: bool) -> tuple[Found, bool]:
        """The converted values of a rule, with their items; the flag says "no value is fine"
        (an issue was already raised, or the rule's condition does not hold)."""
        out: Found = []
        failed = False
        try:
            if rule.when and not self.holds(rule, rule.when, ctx, header=header):
                return [], True
            if rule.source is None and rule.parts and kind in values.COMPOSITE_PARTS:
                return self.from_parts(rule, ctx, kind, header), False
            found = self.items(rule, rule.source, ctx, header=header) if rule.source else []
        except _Reported:
            return [], True
        for item in found:
            try:
                got = self.convert(rule, item, kind, header=header)
            except _Reported:
                failed = True
                continue
            if got is not None:
                out.append((got, item))
        if not out and not failed and rule.default is not None:
            try:
                got = self.default(rule, kind, header)
            except _Reported:
                return [], True
            if got is not None:
                out.append((got, Item(rule.default, "default", computed=True)))
        return _distinct_codings(out) if kind == "coding" else out, failed

    def default(self, rule: Rule, kind: str, header: bool) -> Any:
        if kind in values.COMPOSITE_PARTS:
            # Built as a source value would be: an Identifier is {system, value}, never a bare string.
            got = dict(rule.default) if isinstance(rule.default, dict) else {values.REQUIRED_PART[kind]: rule.default}
            return self.composite(rule, got, kind, "default", header=header)
        convert: Callable[..., Any] = values.SCALAR.get(kind, values.to_string)
        try:
            return convert(rule.default, timezone=self.mapping.timezone)
        except values.ConversionError as exc:
            self.report("LISN_MAP_VALUE_INVALID", rule, "default", header=header, type=kind, reason=str(exc))
            raise _Reported() from None

    def check_expectations(self, ctx: Any) -> bool:
        """``expect:`` conditions on the document (e.g. the certificate type); False when one fails."""
        ok = True
        for cond in self.mapping.expect:
            probe = Rule(line=cond.line, target="expect")
            try:
                held = self.holds(probe, cond, ctx, header=True)
            except _Reported:
                held = False
            if not held:
                found = self.ev.read(cond.path, ctx) if cond.path.selector else []
                self.issues.add("LISN_MAP_EXPECTATION_FAILED", code="not-supported",
                                diagnostics=f"{self.mapping.label}:{cond.line}", path=cond.path.describe(),
                                expected=_expected(cond), found=_text(found[0].value) if found else "-",
                                file=self.mapping.label, line=cond.line)
                ok = False
        return ok

    def run_header(self, ctx: Any) -> None:
        for rule in self.mapping.header:
            target = str(rule.target)
            kind = rule.convert or HEADER_FIELDS[target]
            found, failed = self.values_of(rule, ctx, kind, header=True)
            self.store_header(rule, ctx, found, failed)
        for group in REQUIRED_HEADER_ONE_OF:
            rules = [r for r in self.mapping.header if r.target in group]
            if rules and not any(r.target in self.header or (r.name, True) in self.failed for r in rules):
                self.report("LISN_MAP_REQUIRED_MISSING", rules[0], self.where(ctx, rules[0]), header=True,
                            code="required")

    def where(self, ctx: Any, rule: Rule, found: Found | None = None) -> str:
        """The source location a rule's problem is reported at: where its selector looks, or, for a
        function of several values, the second value found (the one too many)."""
        text = rule.source.describe() if rule.source else ""
        if rule.source is not None and not rule.source.is_selector:
            return found[1][1].location if found and len(found) > 1 else text
        return self.source.describe(ctx, text)

    def store_header(self, rule: Rule, ctx: Any, found: Found, failed: bool) -> None:
        target = str(rule.target)
        if not found:
            required = target in REQUIRED_HEADER or bool(rule.required)
            if required and not failed:
                self.report("LISN_MAP_REQUIRED_MISSING", rule, self.where(ctx, rule), header=True, code="required")
            return
        if len(found) > 1:
            self.report("LISN_MAP_TOO_MANY", rule, self.where(ctx, rule, found), header=True, count=len(found))
        if target not in self.header:
            value, item = found[0]
            self.header[target] = value
            self.trace.append(Trace(target, item.location, value, item.computed, rule.line))

    def run_items(self, rules: tuple[Rule, ...], ctx: Any, inst: Instance) -> None:
        for rule in rules:
            if rule.line in self.skip:
                continue
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
        try:
            contexts = self.contexts(rule, ctx, rule.each) if rule.each else [ctx]
            if rule.when:
                contexts = [c for c in contexts if self.holds(rule, rule.when, c)]
            if rule.order_by:
                order_by = rule.order_by
                contexts.sort(key=lambda c: _order(self.first_value(rule, order_by, c)))
        except _Reported:
            return
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
                child.origin_line = rule.line
            self.run_items(rule.rules, c, child)

    def first_value(self, rule: Rule, expr: Expr, ctx: Any) -> Any:
        found = self.items(rule, expr, ctx, read=True)
        return found[0].value if found else None

    def run_value(self, rule: Rule, ctx: Any, inst: Instance) -> None:
        assert self.template is not None and rule.target is not None
        item = self.template.items[rule.target]
        kind = rule.convert or values.CONVERSION_FOR_TYPE.get(item.type, "string")
        found, failed = self.values_of(rule, ctx, kind, header=False)
        host, chain_required = self.host(inst, rule.target)
        if not found:
            required = rule.required if rule.required is not None else (
                item.required and not item.conditional and chain_required)
            if required and not failed:
                self.report("LISN_MAP_REQUIRED_MISSING", rule, self.where(ctx, rule), code="required")
            return
        if len(found) > 1 and not item.repeats:
            self.report("LISN_MAP_TOO_MANY", rule, self.where(ctx, rule, found), count=len(found))
            found = found[:1]
        key = values.ANSWER_KEY.get(item.type, "valueString")
        host.answers.setdefault(rule.target, []).extend({key: v} for v, _ in found)
        host.sources.setdefault(rule.target, []).extend((i.location, rule.line) for _, i in found)
        self.trace.extend(Trace(rule.target, i.location, v, i.computed, rule.line) for v, i in found)

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


def _distinct_codings(found: Found) -> Found:
    """Codings once each: a code table may send several source codes to one target code."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for value, item in found:
        key = (value.get("system"), value.get("code")) if isinstance(value, dict) else (None, value)
        if key not in seen:
            seen.add(key)
            out.append((value, item))
    return out


def _expected(cond: Condition) -> str:
    if cond.exists is not None:
        return "present" if cond.exists else "absent"
    if cond.one_of:
        return " | ".join(_text(v) for v in cond.one_of)
    return _text(cond.equals)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).strip()


def _order(value: Any) -> tuple[int, Any]:
    try:
        return (0, int(str(value)))
    except (TypeError, ValueError):
        return (1, _text(value))
