"""``map_export``: an EHR export (bytes) to the submission Bundle, through the format's mapping file.

Steps: find and read the mapping file, parse the input safely (no DTD, no entities, no
network, size and depth limits: :mod:`adapter.fhir.parse`), run the engine, report every
source value no rule read, build the Bundle. ``convert_export`` adds the validator.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from adapter import errors
from adapter.data import data_dir
from adapter.fhir import parse
from adapter.fhir.registry import Registry, default_registry
from adapter.inbound import fhirinput
from adapter.inbound.bundle import HEADER_FIELDS, build_bundle, header_path
from adapter.inbound.engine import Engine, Trace
from adapter.inbound.mapping import Mapping, Rule, load_mapping
from adapter.inbound.sources import FlatSource, JsonSource, SelectorError, Source, XmlSource
from adapter.inbound.template import Instance, Template, render
from adapter.issues import Issues
from adapter.settings import Limits, XmlParsing

Bundle = dict[str, Any]


def mappings_dir() -> Path:
    return data_dir("mappings")


def known_formats() -> list[str]:
    """The ``--from`` values: one per file in ``mappings/inbound/``."""
    return sorted(p.stem for p in (mappings_dir() / "inbound").glob("*.yaml"))


def mapping_for(fmt: str, mapping: Path | None = None) -> Mapping:
    """The mapping file given, or the one for ``fmt`` in ``mappings/inbound/``."""
    path = mapping or mappings_dir() / "inbound" / f"{fmt}.yaml"
    if not path.is_file():
        known = ", ".join(known_formats())
        oo = Issues()
        oo.add("LISN_MAP_FORMAT_UNKNOWN", code="not-supported", format=fmt, known=known)
        raise errors.MappingError(f"unknown source format {fmt!r}", outcome=oo.outcome(),
                                  message_id="LISN_MAP_FORMAT_UNKNOWN")
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
    """Our ConceptMaps in ``mappings/codes/`` plus the mapping's own; read once, then cached."""
    for extra in mapping.conceptmaps:
        if not extra.is_file():
            oo = Issues()
            oo.add("LISN_MAP_FILE_INVALID", diagnostics=mapping.label, file=mapping.label, line=1,
                   problem=f"the ConceptMap file {extra.name} does not exist")
            raise errors.MappingError(outcome=oo.outcome(), message_id="LISN_MAP_FILE_INVALID")
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
        root = parse.parse_xml(raw, limits, xml)
        if mapping.root and not _is_root(root, mapping):
            issues.add("LISN_MAP_ROOT_UNEXPECTED", expression="/", code="structure", expected=mapping.root)
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
    assert engine.template is not None
    for rule in rules:
        name = rule.name
        found = engine.template.get(name)
        wrong_kind = found is not None and (found.type == "group") != bool(rule.group)
        if found is None or wrong_kind or engine.template.between(parent, name) is None:
            engine.issues.add("LISN_MAP_LINKID_UNKNOWN", diagnostics=f"{engine.mapping.label}:{rule.line}",
                              questionnaire=engine.template.canonical, target=name, line=rule.line)
        elif rule.group:
            _check_targets(engine, rule.rules, rule.group)


def run_mapping(raw: bytes, fmt: str, *, mapping: Path | None = None, registry: Registry | None = None,
                limits: Limits = Limits(), xml: XmlParsing = XmlParsing()
                ) -> tuple[Bundle | None, Issues, list[Trace]]:
    """The Bundle (None on errors), every issue, and the trace of each mapped value to its source."""
    bundle, issues, trace, _ = _run(raw, fmt, mapping=mapping, registry=registry, limits=limits, xml=xml)
    return bundle, issues, trace


def _run(raw: bytes, fmt: str, *, mapping: Path | None, registry: Registry | None, limits: Limits,
         xml: XmlParsing) -> tuple[Bundle | None, Issues, list[Trace], dict[str, str]]:
    spec = mapping_for(fmt, mapping)
    maps = conceptmaps_for(spec)
    reg = registry if registry is not None else _profiles()
    issues = Issues()
    source = open_source(raw, spec, issues, limits=limits, xml=xml)
    if source is None:
        return None, issues, [], {}
    engine = Engine(spec, source, reg, issues, conceptmaps=maps)
    engine.run_header(source.root)
    canonical = str(engine.header.get("questionnaire") or spec.template or "")
    questionnaire = reg.resolve(canonical, "Questionnaire") if canonical else None
    if questionnaire is None:
        issues.add("LISN_MAP_TEMPLATE_UNKNOWN", expression="QuestionnaireResponse.questionnaire",
                   code="not-supported", questionnaire=canonical or "-")
        return None, issues, engine.trace, {}
    engine.template = Template(questionnaire)
    _check_targets(engine, spec.items, None)
    if issues.has_errors:
        return None, issues, engine.trace, {}
    top = Instance(None)
    engine.run_items(spec.items, source.root, top)
    signature = engine.signature()
    for unread in source.unread(spec.ignore):
        issues.add("LISN_MAP_NOT_MAPPED", expression=unread, severity="warning", code="informational",
                   source=unread)
        issues.items[-1]["location"] = [unread]
    if issues.has_errors:
        return None, issues, engine.trace, {}
    where: dict[str, str] = {}
    items = render(engine.template, top, path="Bundle.entry[1].resource", where=where)
    for t in engine.trace:
        if t.target in HEADER_FIELDS and header_path(t.target) and t.source != "default":
            where.setdefault(str(header_path(t.target)), t.source)
    bundle = build_bundle(engine.header, items, questionnaire=canonical, registry=reg, signature=signature)
    return bundle, issues, engine.trace, where


def map_export(raw: bytes, fmt: str, *, mapping: Path | None = None, registry: Registry | None = None,
               limits: Limits = Limits(), xml: XmlParsing = XmlParsing()) -> tuple[Bundle, errors.OperationOutcome]:
    """The submission Bundle and the mapping report (warnings: values not mapped).

    Raises MappingError (its outcome lists every error and warning) when the export cannot
    be mapped, and InputRejected when it cannot even be read.
    """
    bundle, issues, _ = run_mapping(raw, fmt, mapping=mapping, registry=registry, limits=limits, xml=xml)
    if bundle is None:
        raise errors.MappingError(outcome=issues.outcome())
    return bundle, issues.outcome()


def _validator() -> Callable[..., errors.OperationOutcome] | None:
    try:
        from adapter.validation import validate
    except ImportError:
        return None
    return validate


def convert_export(raw: bytes, fmt: str, *, mapping: Path | None = None, registry: Registry | None = None,
                   limits: Limits = Limits(), xml: XmlParsing = XmlParsing()
                   ) -> tuple[Bundle | None, errors.OperationOutcome]:
    """Map, then validate: the Bundle (None when mapping failed) and one outcome with every issue."""
    bundle, issues, _, where = _run(raw, fmt, mapping=mapping, registry=registry, limits=limits, xml=xml)
    if bundle is None:
        return None, issues.outcome()
    validate = _validator()
    if validate is None:
        issues.add("LISN_MAP_VALIDATOR_MISSING", severity="warning", code="informational")
    else:
        found = validate(bundle, registry if registry is not None else _profiles())
        issues.extend([_with_source(i, where) for i in found.get("issue", []) if i.get("severity") != "information"])
    return bundle, issues.outcome()


def _with_source(iss: dict[str, Any], where: dict[str, str]) -> dict[str, Any]:
    """A validator issue, plus the source location of the element it names (longest known prefix)."""
    for expr in iss.get("expression") or []:
        best = max((k for k in where if expr == k or expr.startswith((k + ".", k + "["))), key=len, default=None)
        if best is not None:
            return {**iss, "location": [where[best]], "expression": [*iss["expression"], where[best]]}
    return iss
