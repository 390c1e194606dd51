"""``map_export``: an EHR export (bytes) to the submission Bundle, through the format's mapping file.

Steps: find and read the mapping file, parse the input safely (no DTD, no entities, no
network, size and depth limits: :mod:`adapter.fhir.parse`), run the engine, report every
source value no rule read, build the Bundle. ``convert_export`` adds the validator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from adapter import errors
from adapter.data import data_dir
from adapter.fhir import parse
from adapter.fhir.registry import Registry, default_registry
from adapter.inbound import encoding, fhirinput, selectors
from adapter.inbound.bundle import HEADER_FIELDS, build_bundle, header_path
from adapter.inbound.engine import Engine, Trace
from adapter.inbound.inputs import resolve as resolve_inputs
from adapter.inbound.mapping import Mapping, Rule, load_mapping
from adapter.inbound.sources import FlatSource, JsonSource, SelectorError, Source, XmlSource
from adapter.inbound.template import Instance, Template, Where, render
from adapter.issues import Issues
from adapter.settings import Limits, XmlParsing

Bundle = dict[str, Any]


def mappings_dir() -> Path:
    return data_dir("mappings")


def known_formats() -> list[str]:
    """The ``--from`` values: one per file in ``mappings/inbound/``."""
    return sorted(p.stem for p in (mappings_dir() / "inbound").glob("*.yaml"))


def mapping_for(fmt: str, mapping: Path | str | None = None) -> Mapping:
    """The mapping file given (a path, as ``Path`` or ``str``), or the one for ``fmt`` in ``mappings/inbound/``.

    ``fmt`` must be one of :func:`known_formats` exactly: it is never joined into a path as it
    comes (``../x`` or an absolute path would load any ``*.yaml`` on the server)."""
    registered = mapping is not None or fmt in known_formats()
    path = Path(mapping) if mapping is not None else mappings_dir() / "inbound" / f"{fmt}.yaml"
    if not registered or not path.is_file():
        known = ", ".join(known_formats())
        oo = Issues()
        if mapping is not None:
            oo.add("LISN_MAP_FILE_MISSING", code="not-found", file=str(path))
        else:
            oo.add("LISN_MAP_FORMAT_UNKNOWN", code="not-supported", format=fmt[:60], known=known)
        message_id = errors.message_id_of(oo.items[0]) or "LISN_MAP_FORMAT_UNKNOWN"
        raise errors.MappingError(f"no mapping file for {fmt[:60]!r}", outcome=oo.outcome(), message_id=message_id)
    return load_mapping(path)


@lru_cache(maxsize=1)
def _profiles() -> Registry:
    return default_registry()


@lru_cache(maxsize=16)
def _conceptmaps(extra: tuple[Path, ...]) -> Registry:
    reg = Registry()
    reg.load_path(mappings_dir() / "codes")
    for path in extra:
        reg.load_path(path)
    return reg


def conceptmaps_for(mapping: Mapping) -> Registry:
    """Our ConceptMaps in ``mappings/codes/`` plus the mapping's own; read once, then cached.

    A missing file is a problem of the mapping file, reported with its line when it is read.
    """
    return _conceptmaps(mapping.conceptmaps)


def _is_root(root: Any, mapping: Mapping) -> bool:
    try:
        return bool(XmlSource(root, mapping.namespaces).select(root, f"self::{mapping.root}"))
    except SelectorError:
        return False


def open_source(raw: bytes, mapping: Mapping, issues: Issues, *, limits: Limits,
                xml: XmlParsing) -> Source | None:
    """A reader for the input in the mapping's syntax; None (with issues) when it cannot be read."""
    if mapping.syntax == "xml":
        encoding.check_declared(raw)
        root = parse.parse_xml(raw, limits, xml)
        if mapping.root and not _is_root(root, mapping):
            issues.add("LISN_MAP_ROOT_UNEXPECTED", expression="/", code="structure",
                       **selectors.describe_root(root, mapping.root, mapping.namespaces))
            return None
        return XmlSource(root, mapping.namespaces)
    data = parse.parse_json(raw, limits)
    if not isinstance(data, dict):
        issues.add("LISN_MAP_NOT_OBJECT", expression="$", code="structure")
        return None
    if mapping.syntax == "flat":
        return FlatSource(data)
    if mapping.syntax == "fhir":
        doc = fhirinput.normalise(data, issues)
        return JsonSource(doc) if doc is not None else None
    return JsonSource(data)


def _check_targets(engine: Engine, rules: tuple[Rule, ...], parent: str | None) -> None:
    """Rules whose linkId the template lacks are reported and skipped; the others still run."""
    assert engine.template is not None
    for rule in rules:
        name = rule.name
        found = engine.template.get(name)
        wrong_kind = found is not None and (found.type == "group") != bool(rule.group)
        if found is None or wrong_kind or engine.template.between(parent, name) is None:
            engine.issues.add("LISN_MAP_LINKID_UNKNOWN", diagnostics=f"{engine.mapping.label}:{rule.line}",
                              questionnaire=engine.template.canonical, target=name, line=rule.line)
            engine.skip.add(rule.line)
        elif rule.group:
            _check_targets(engine, rule.rules, rule.group)


# Issues that say the mapping file is wrong (exit 2), not the export (exit 1).
FILE_PROBLEMS = frozenset({"LISN_MAP_SELECTOR_INVALID", "LISN_MAP_LINKID_UNKNOWN", "LISN_MAP_CONCEPTMAP_UNKNOWN",
                           "LISN_MAP_FILE_INVALID"})


@dataclass
class Run:
    """Everything one mapping run found: the Bundle (None on errors), its issues, the trace, and,
    for the validator, the partial Bundle and where each of its elements came from."""

    bundle: Bundle | None
    issues: Issues
    trace: list[Trace] = field(default_factory=list)
    where: Where = field(default_factory=dict)
    partial: Bundle | None = None
    failed: set[tuple[str, bool]] = field(default_factory=set)
    label: str = ""

    @property
    def broken_file(self) -> bool:
        return any(errors.message_id_of(i) in FILE_PROBLEMS for i in self.issues.items)


def run_mapping(raw: bytes, fmt: str, *, mapping: Path | str | None = None, registry: Registry | None = None,
                limits: Limits = Limits(), xml: XmlParsing = XmlParsing(),
                inputs: MappingABC[str, Any] | None = None) -> tuple[Bundle | None, Issues, list[Trace]]:
    """The Bundle (None on errors), every mapping issue, and the trace of each mapped value to its source."""
    run = _run(raw, fmt, mapping=mapping, registry=registry, limits=limits, xml=xml, inputs=inputs)
    return run.bundle, run.issues, run.trace


def _run(raw: bytes, fmt: str, *, mapping: Path | str | None, registry: Registry | None, limits: Limits,
         xml: XmlParsing, inputs: MappingABC[str, Any] | None) -> Run:
    spec = mapping_for(fmt, mapping)
    maps = conceptmaps_for(spec)
    reg = registry if registry is not None else _profiles()
    issues = Issues()
    given, failed_inputs = resolve_inputs(spec.inputs, dict(inputs or {}), issues, label=spec.label,
                                          timezone=spec.timezone)
    source = open_source(raw, spec, issues, limits=limits, xml=xml)
    if source is None:
        return Run(None, issues, label=spec.label)
    engine = Engine(spec, source, reg, issues, conceptmaps=maps, inputs=given, failed_inputs=failed_inputs)
    if not engine.check_expectations(source.root):
        return Run(None, issues, engine.trace, label=spec.label)
    engine.run_header(source.root)
    canonical = str(engine.header.get("questionnaire") or spec.template or "")
    questionnaire = reg.resolve(canonical, "Questionnaire") if canonical else None
    if questionnaire is None:
        issues.add("LISN_MAP_TEMPLATE_UNKNOWN", expression="QuestionnaireResponse.questionnaire",
                   code="not-supported", questionnaire=canonical or "-")
        return Run(None, issues, engine.trace, label=spec.label)
    engine.template = Template(questionnaire)
    _check_targets(engine, spec.items, None)
    top = Instance(None)
    # Header problems do not stop the items: one run reports everything it can find.
    engine.run_items(spec.items, source.root, top)
    signature = engine.signature()
    for unread in source.unread(spec.ignore):
        if ".meta.security" in unread:
            # Dropping a security label could send a protected identity on as an ordinary one.
            issues.add("LISN_MAP_SECURITY_LABEL_DROPPED", expression=unread, code="security", source=unread)
        else:
            issues.add("LISN_MAP_NOT_MAPPED", expression=unread, severity="warning", code="informational",
                       source=unread)
        issues.items[-1]["location"] = [unread]
    where: Where = {}
    items = render(engine.template, top, path="Bundle.entry[1].resource", where=where)
    for t in engine.trace:
        if t.target in HEADER_FIELDS and header_path(t.target) and t.source != "default":
            where.setdefault(str(header_path(t.target)), (t.source, t.line))
    bundle = build_bundle(engine.header, items, questionnaire=canonical, registry=reg, signature=signature)
    ok = not issues.has_errors
    return Run(bundle if ok else None, issues, engine.trace, where, None if ok else bundle,
               _with_groups(engine.failed, engine.template), spec.label)


def _with_groups(failed: set[tuple[str, bool]], template: Template) -> set[tuple[str, bool]]:
    """Failed items and the groups above them (a group left empty by a failed item is no news)."""
    out = set(failed)
    for target, header in failed:
        parent = template.items[target].parent if not header and target in template.items else None
        while parent is not None:
            out.add((parent, False))
            parent = template.items[parent].parent
    return out


def map_export(raw: bytes, fmt: str, *, mapping: Path | str | None = None, registry: Registry | None = None,
               limits: Limits = Limits(), xml: XmlParsing = XmlParsing(),
               inputs: MappingABC[str, Any] | None = None) -> tuple[Bundle, errors.OperationOutcome]:
    """The submission Bundle and the mapping report (warnings: values not mapped).

    ``mapping`` is a mapping file (``Path`` or ``str``) to use instead of ``mappings/inbound/<fmt>.yaml``;
    ``inputs`` are the side inputs the mapping declares (``{"kommun": "0180"}``).
    Raises MappingError when the export cannot be mapped: its outcome lists every mapping issue
    and what the validator finds in the rest of the certificate. InputRejected when the export
    cannot even be read.
    """
    run = _run(raw, fmt, mapping=mapping, registry=registry, limits=limits, xml=xml, inputs=inputs)
    if run.bundle is None:
        _validate_partial(run, registry)
        raise errors.MappingError(outcome=run.issues.outcome(),
                                  message_id="LISN_MAP_FILE_INVALID" if run.broken_file else None)
    return run.bundle, run.issues.outcome()


def _validator() -> Callable[..., errors.OperationOutcome]:
    # Imported when first needed (a mapping run without validation starts faster), never guarded:
    # a validator that cannot load is a crash, never a certificate that passes unchecked.
    from adapter.validation import validate

    return validate


def convert_export(raw: bytes, fmt: str, *, mapping: Path | str | None = None, registry: Registry | None = None,
                   limits: Limits = Limits(), xml: XmlParsing = XmlParsing(),
                   inputs: MappingABC[str, Any] | None = None) -> tuple[Bundle | None, errors.OperationOutcome]:
    """Map, then validate: the Bundle (None when mapping failed) and one outcome with every issue.

    Raises MappingError when the mapping file itself is wrong (an unknown linkId, a selector
    XPath rejects, an unknown ConceptMap): every issue of the run is in its outcome.
    """
    run = _run(raw, fmt, mapping=mapping, registry=registry, limits=limits, xml=xml, inputs=inputs)
    if run.broken_file:
        raise errors.MappingError(outcome=run.issues.outcome(), message_id="LISN_MAP_FILE_INVALID")
    if run.bundle is None:
        _validate_partial(run, registry)
        return None, run.issues.outcome()
    found = _validator()(run.bundle, registry if registry is not None else _profiles())
    run.issues.extend([with_source(i, run.where, run.label) for i in found.get("issue", [])
                       if i.get("severity") != "information"])
    return run.bundle, run.issues.outcome()


def _validate_partial(run: Run, registry: Registry | None) -> None:
    """The validator's findings on what did map, without the echoes of the mapping's own errors."""
    if run.partial is None or run.broken_file:
        return
    reg = registry if registry is not None else _profiles()
    found = _validator()(run.partial, reg)
    echo = echoes(run.failed, _questions(run.partial, reg))
    run.issues.extend([with_source(i, run.where, run.label) for i in found.get("issue", [])
                       if i.get("severity") != "information" and not echo(i)])


def _questions(bundle: Any, registry: Registry) -> dict[str, Any]:
    """linkId -> item definition of the Questionnaire the mapped response names (empty if none):
    the validator's texts name a question by its text, so the echoes are rendered the same way."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    qr = next((e["resource"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)
               and e["resource"].get("resourceType") == "QuestionnaireResponse"), None)
    canonical = qr.get("questionnaire") if qr else None
    q = registry.resolve(canonical, "Questionnaire") if isinstance(canonical, str) else None
    out: dict[str, Any] = {}
    stack = list((q or {}).get("item") or [])
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.setdefault(str(item.get("linkId")), item)
            stack.extend(item.get("item") or [])
    return out


def echoes(failed: set[tuple[str, bool]], questions: MappingABC[str, Any] | None = None
           ) -> Callable[[dict[str, Any]], bool]:
    """A test for validator issues that only repeat a mapping error (a required value the mapping
    already reported missing, the resource whose header value did not map). ``questions``: the
    Questionnaire's items by linkId, which the validator's texts name the question by."""
    texts = set()
    for target, header in failed:
        if not header:
            for mid in ("QUESTIONNAIRE_QR_ITEM_MISSING", "QUESTIONNAIRE_QR_ITEM_GROUP_REQUIRED"):
                probe = Issues()
                probe.questions = questions
                probe.add(mid, linkId=target)
                texts.add((mid, probe.items[0]["details"]["text"]))
    paths = [p for p in (header_path(t) for t, h in failed if h) if p]
    prefixes = {re.sub(r"\[\d+\]$", "", p) for p in paths} | {p.split(".resource")[0] + ".resource" for p in paths
                                                                if ".resource" in p}

    def echo(iss: dict[str, Any]) -> bool:
        if (errors.message_id_of(iss), iss.get("details", {}).get("text")) in texts:
            return True
        return any(e == p or e.startswith((p + ".", p + "[")) for e in iss.get("expression") or [] for p in prefixes)
    return echo


def with_source(iss: dict[str, Any], where: Where, label: str) -> dict[str, Any]:
    """A validator issue, plus the source location of the element it names (longest known prefix)
    and the mapping-file line that put it there."""
    for expr in iss.get("expression") or []:
        best = max((k for k in where if expr == k or expr.startswith((k + ".", k + "["))), key=len, default=None)
        if best is not None:
            location, line = where[best]
            out = {**iss, "location": [location], "expression": [*iss["expression"], location]}
            if line:
                rule = f"{label}:{line}"
                out["diagnostics"] = f"{iss['diagnostics']}; {rule}" if iss.get("diagnostics") else rule
            return out
    return iss
