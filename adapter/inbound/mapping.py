"""Mapping files: the declarative description of one source format (docs/mappings.md).

A mapping file is YAML. It names the source syntax (``xml``, ``json``, ``flat``, ``fhir``),
the selectors' namespaces, the side inputs it accepts, its code tables, and two lists of
rules: ``header`` (patient, issuer, care unit, care provider, recipient, authored, certificate
id, ...) and ``items`` (linkIds of the template). Every rule remembers its line in the file so
that a mapping error can point at it. A broken file is reported whole: every problem found,
each with its line, in one ``MappingError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import yaml

from adapter import errors, messages
from adapter.inbound import codes, expressions, selectors
from adapter.inbound.bundle import HEADER_FIELDS, REQUIRED_HEADER, REQUIRED_HEADER_ONE_OF
from adapter.inbound.expressions import Expr, ExpressionError
from adapter.inbound.inputs import NAME as INPUT_NAME
from adapter.inbound.inputs import TYPES as INPUT_TYPES
from adapter.inbound.inputs import InputDecl

SYNTAXES = frozenset({"xml", "json", "flat", "fhir"})
CONVERSIONS = frozenset({"string", "text", "date", "dateTime", "boolean", "integer", "decimal",
                         "quantity", "coding", "identifier", "resource"})
_TOP_KEYS = frozenset({"format", "syntax", "description", "root", "namespaces", "timezone", "template",
                       "systems", "parts", "ignore", "conceptmaps", "signature", "header", "items",
                       "inputs", "codes", "expect"})
_RULE_KEYS = frozenset({"target", "group", "from", "for", "order_by", "parts", "convert", "default",
                        "required", "when", "map", "system", "pattern", "items", "note"})
_WHEN_KEYS = frozenset({"path", "equals", "exists", "in"})
_INPUT_KEYS = frozenset({"type", "required", "default", "description"})
_TABLE_KEYS = frozenset({"source", "target", "map", "unmapped", "description"})
_UNMAPPED_MODES = frozenset({"provided", "fixed", "other-map"})


@dataclass(frozen=True)
class Condition:
    """``when:`` (or ``expect:``): the value at ``path`` (relative) matches."""

    path: Expr
    equals: Any = None
    exists: bool | None = None
    one_of: tuple[Any, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Rule:
    """One line of a mapping: a value (``target``) or a group instance per context (``group``)."""

    line: int
    target: str | None = None
    group: str | None = None
    source: Expr | None = None
    each: str | None = None
    order_by: Expr | None = None
    parts: dict[str, Expr] = field(default_factory=dict)
    convert: str | None = None
    default: Any = None
    required: bool | None = None
    when: Condition | None = None
    map: str | None = None
    system: str | None = None
    pattern: str | None = None
    rules: tuple[Rule, ...] = ()
    note: str | None = None

    @property
    def name(self) -> str:
        return self.target or self.group or "?"


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file."""

    path: Path
    format: str
    syntax: str
    header: tuple[Rule, ...]
    items: tuple[Rule, ...]
    namespaces: dict[str, str] = field(default_factory=dict)
    root: str | None = None
    timezone: str = "Europe/Stockholm"
    template: str | None = None
    systems: dict[str, str] = field(default_factory=dict)
    parts: dict[str, dict[str, Expr]] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    conceptmaps: tuple[Path, ...] = ()
    signature: str | None = None
    inputs: dict[str, InputDecl] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Inline code tables, each as an R4 ConceptMap, by name."""
    expect: tuple[Condition, ...] = ()

    @property
    def label(self) -> str:
        return self.path.name


# libyaml's parser where present (about 10x faster); the constructor stays the safe one.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_MAPPING_BYTES = 1024 * 1024
"""The largest mapping file read (the shipped ones are under 20 kB)."""
MAX_MAPPING_DEPTH = 32
"""The deepest YAML nesting of a mapping file (the shipped ones nest about 8 deep)."""


class _LineLoader(_Base):  # type: ignore[misc]
    """A safe loader that records each mapping's line as ``__line__`` and each key's as ``__lines__``."""


MAX_MAPPING_ALIASES = 64
"""The most aliases (``*name``) a mapping file may use (the shipped ones use a few, for ``<<:``)."""


def _check_shape(text: str) -> None:
    """Bound what the file can expand to, from the parser's events, before anything is built:
    nesting at most :data:`MAX_MAPPING_DEPTH`, at most :data:`MAX_MAPPING_ALIASES` aliases, and no
    alias inside an anchored node (nested aliases are how a few lines stand for an exponentially
    large document); so the expanded file is at most that many times its own size."""
    depth, aliases = 0, 0
    anchored: list[int] = []  # depths at which an anchored collection is open
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if anchored:
                raise yaml.MarkedYAMLError(problem="an alias (*name) inside an anchored node (&name) is not "
                                                   "allowed in a mapping file", problem_mark=event.start_mark)
            if aliases > MAX_MAPPING_ALIASES:
                raise yaml.MarkedYAMLError(problem=f"more than {MAX_MAPPING_ALIASES} aliases (*name)",
                                           problem_mark=event.start_mark)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_MAPPING_DEPTH:
                raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_MAPPING_DEPTH} levels",
                                           problem_mark=event.start_mark)
            if event.anchor is not None:
                anchored.append(depth)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            if anchored and anchored[-1] == depth:
                anchored.pop()
            depth -= 1


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    # construct_mapping builds a dict; types-PyYAML types its keys and values as Any.
    data = cast(dict[str, Any], loader.construct_mapping(node, deep=True))
    data["__line__"] = node.start_mark.line + 1
    data["__lines__"] = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_META = ("__line__", "__lines__")


def file_error(label: str, problems: list[tuple[int, str]]) -> errors.MappingError:
    """One MappingError listing every problem of a mapping file, each with its line."""
    issues = []
    for line, problem in sorted(problems, key=lambda p: p[0]):
        args = {"file": label, "line": line, "problem": problem}
        issues.append(errors.issue("error", "invalid", messages.bilingual("LISN_MAP_FILE_INVALID", **args),
                                   message_id="LISN_MAP_FILE_INVALID", diagnostics=f"{label}:{line}"))
    first = problems[0] if problems else (1, "?")
    text = messages.text("LISN_MAP_FILE_INVALID", "en", file=label, line=first[0], problem=first[1])
    return errors.MappingError(text, outcome=errors.outcome(issues), message_id="LISN_MAP_FILE_INVALID")


def load_mapping(path: Path | str) -> Mapping:
    """Read and check a mapping file; problems raise one MappingError naming each line.

    Parsed files are cached by path, size and modification time: an edited file is re-read.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None:
        return _load(path)
    return _cached(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _cached(path: Path, mtime_ns: int, size: int) -> Mapping:
    return _load(path)


def _load(path: Path) -> Mapping:
    try:
        if path.stat().st_size > MAX_MAPPING_BYTES:
            raise file_error(path.name, [(1, f"the file is larger than {MAX_MAPPING_BYTES} bytes")])
        text = path.read_text(encoding="utf-8")
        _check_shape(text)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise file_error(path.name, [((mark.line + 1) if mark else 1, str(getattr(exc, "problem", exc)))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise file_error(path.name, [(1, f"cannot read ({type(exc).__name__})")]) from None
    if not isinstance(data, dict):
        raise file_error(path.name, [(1, "the file must be a YAML mapping")])
    loader = _Loader(path, data)
    spec = loader.mapping()
    if loader.problems:
        raise file_error(path.name, loader.problems)
    return spec


def _plain(value: Any) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in _META} if isinstance(value, dict) else {}


def _line(data: Any, key: str | None = None, default: int = 1) -> int:
    if not isinstance(data, dict):
        return default
    if key is not None and key in (data.get("__lines__") or {}):
        return int(data["__lines__"][key])
    return int(data.get("__line__", default))


class _Loader:
    """Reads one mapping file, collecting every problem with its line instead of stopping at the first."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data
        self.problems: list[tuple[int, str]] = []
        self.syntax = str(data.get("syntax"))
        self.namespaces: dict[str, str] = {}
        self.input_names: set[str] = set()
        self.table_names: set[str] = set()

    def problem(self, line: int, text: str) -> None:
        self.problems.append((line, text))

    def mapping(self) -> Mapping:
        data, path = self.data, self.path
        line = _line(data)
        self.check_keys(data, _TOP_KEYS, "top level")
        if data.get("syntax") not in SYNTAXES:
            self.problem(_line(data, "syntax", line), f"'syntax' must be one of {sorted(SYNTAXES)}")
        if not isinstance(data.get("format"), str):
            self.problem(line, "'format' is required")
        timezone = str(data.get("timezone") or "Europe/Stockholm")
        try:
            ZoneInfo(timezone)
        except (ValueError, KeyError):
            self.problem(_line(data, "timezone", line), f"unknown timezone {data.get('timezone')!r}")
            timezone = "Europe/Stockholm"
        self.namespaces = self.str_dict(data, "namespaces")
        inputs = self.inputs(data.get("inputs"))
        self.input_names = set(inputs)
        tables = self.tables(data.get("codes"), str(data.get("format")))
        self.table_names = set(tables)
        parts = {str(k): self.parts(v, _line(data, "parts"), f"parts.{k}") for k, v in _plain(data.get("parts")).items()}
        header = tuple(self.rules(data.get("header") or [], header=True, line=_line(data, "header")))
        items = tuple(self.rules(data.get("items") or [], header=False, line=_line(data, "items")))
        self.required_header(header, line)
        expect = tuple(c for c in (self.condition(raw, _line(raw, default=_line(data, "expect")))
                                   for raw in self.list_of(data, "expect")) if c is not None)
        if data.get("root") is not None:
            self.selector(str(data["root"]), _line(data, "root"), root=True)
        if data.get("signature") is not None:
            self.selector(str(data["signature"]), _line(data, "signature"))
        return Mapping(
            path=path, format=str(data.get("format")), syntax=self.syntax, header=header, items=items,
            namespaces=self.namespaces, root=data.get("root"), timezone=timezone, template=data.get("template"),
            systems=self.str_dict(data, "systems"), parts=parts,
            ignore=tuple(str(p) for p in self.list_of(data, "ignore")),
            conceptmaps=self.conceptmap_files(data), signature=data.get("signature"),
            inputs=inputs, tables=tables, expect=expect,
        )

    # -- small readers -------------------------------------------------------------------------
    def check_keys(self, data: dict[str, Any], allowed: frozenset[str], where: str) -> None:
        unknown = sorted(k for k in data if k not in _META and k not in allowed)
        if unknown:
            self.problem(_line(data, unknown[0]), f"unknown key(s) {unknown} at {where}")

    def str_dict(self, data: dict[str, Any], key: str) -> dict[str, str]:
        value = data.get(key) or {}
        if not isinstance(value, dict):
            self.problem(_line(data, key), f"'{key}' must be a mapping of names to strings")
            return {}
        return {str(k): str(v) for k, v in _plain(value).items()}

    def list_of(self, data: dict[str, Any], key: str) -> list[Any]:
        value = data.get(key) or []
        if not isinstance(value, list):
            self.problem(_line(data, key), f"'{key}' must be a list")
            return []
        return value

    def conceptmap_files(self, data: dict[str, Any]) -> tuple[Path, ...]:
        out = []
        for name in self.list_of(data, "conceptmaps"):
            file = (self.path.parent / str(name)).resolve()
            if not file.is_file():
                self.problem(_line(data, "conceptmaps"), f"the ConceptMap file {name} does not exist "
                                                         f"(looked for {file})")
            out.append(file)
        return tuple(out)

    def expr(self, raw: Any, line: int, what: str) -> Expr | None:
        try:
            found = expressions.parse(raw)
        except ExpressionError as exc:
            self.problem(_line(raw, default=line), f"{what}: {exc}")
            return None
        for sel in found.selectors():
            self.selector(sel, line)
        for name in found.inputs():
            if name not in self.input_names:
                self.problem(line, f"{what} reads the input '{name}', which 'inputs' does not declare "
                                   f"(declared: {', '.join(sorted(self.input_names)) or 'none'})")
        for table in found.tables():
            if table not in self.table_names:
                self.problem(line, f"{what} uses the code table '{table}', which 'codes' does not define")
        return found

    def selector(self, text: str, line: int, *, root: bool = False) -> None:
        reason = selectors.check(self.syntax, text, self.namespaces, root=root)
        if reason:
            self.problem(line, f"the selector '{text}' is not valid: {reason}")

    def parts(self, raw: Any, line: int, what: str) -> dict[str, Expr]:
        if not isinstance(raw, dict):
            self.problem(line, f"'{what}' must be a mapping of part names to selectors")
            return {}
        out = {}
        for name, value in _plain(raw).items():
            found = self.expr(value, _line(raw, name, line), f"{what}.{name}")
            if found is not None:
                out[str(name)] = found
        return out

    # -- inputs and code tables ----------------------------------------------------------------
    def inputs(self, raw: Any) -> dict[str, InputDecl]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(_line(self.data, "inputs"), "'inputs' must map each input name to its declaration")
            return {}
        out = {}
        for name, decl in _plain(raw).items():
            line = _line(raw, name)
            decl = decl if isinstance(decl, dict) else {"__line__": line}
            self.check_keys(decl, _INPUT_KEYS, f"input '{name}'")
            kind = decl.get("type", "string")
            if not INPUT_NAME.match(str(name)):
                self.problem(line, f"the input name '{name}' must be letters, digits, '_', '.', '-'")
            if kind not in INPUT_TYPES:
                self.problem(line, f"input '{name}': 'type' must be one of {list(INPUT_TYPES)}")
            if decl.get("required") and decl.get("default") is not None:
                self.problem(line, f"input '{name}' is required and has a default: choose one")
            out[str(name)] = InputDecl(str(name), str(kind), bool(decl.get("required")), decl.get("default"),
                                       decl.get("description"), line)
        return out

    def tables(self, raw: Any, fmt: str) -> dict[str, dict[str, Any]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(_line(self.data, "codes"), "'codes' must map each table name to its table")
            return {}
        names = set(_plain(raw))
        out = {}
        for name, table in _plain(raw).items():
            line = _line(raw, name)
            if not isinstance(table, dict) or not isinstance(table.get("map"), dict):
                self.problem(line, f"code table '{name}' needs 'map': a mapping of source codes to target codes")
                continue
            self.check_keys(table, _TABLE_KEYS, f"code table '{name}'")
            entries = {str(k): v for k, v in _plain(table["map"]).items()}
            for code, to in entries.items():
                if isinstance(to, dict):
                    to = _plain(to)
                    entries[code] = to
                if not (to is None or isinstance(to, (str, int)) or (isinstance(to, dict) and to.get("code"))):
                    self.problem(_line(table["map"], code, line), f"code table '{name}': '{code}' must map to a "
                                                                  "code, to {code, display}, or to null (no counterpart)")
            unmapped = self.unmapped(table.get("unmapped"), name, names, fmt, line)
            out[str(name)] = codes.conceptmap_from_table(
                str(name), table_url(fmt, str(name)), source=table.get("source"), target=table.get("target"),
                entries=entries, unmapped=unmapped)
        return out

    def unmapped(self, raw: Any, name: str, names: set[str], fmt: str, line: int) -> dict[str, Any] | None:
        if raw is None:
            return None
        raw = _plain(raw)
        mode = raw.get("mode")
        if mode not in _UNMAPPED_MODES:
            self.problem(line, f"code table '{name}': 'unmapped.mode' must be one of {sorted(_UNMAPPED_MODES)}")
            return None
        if mode == "fixed" and not raw.get("code"):
            self.problem(line, f"code table '{name}': 'unmapped' mode fixed needs 'code'")
        if mode == "other-map":
            other = str(raw.get("map") or raw.get("url") or "")
            if not other:
                self.problem(line, f"code table '{name}': 'unmapped' mode other-map needs 'map' (a table or ConceptMap)")
            return {"mode": mode, "url": table_url(fmt, other) if other in names else other}
        return {k: v for k, v in raw.items() if k in ("mode", "code", "display")}

    # -- rules ---------------------------------------------------------------------------------
    def rules(self, raw: Any, *, header: bool, line: int) -> list[Rule]:
        if not isinstance(raw, list):
            self.problem(line, "'header' and 'items' must be lists of rules")
            return []
        return [r for r in (self.rule(r, header=header, line=line) for r in raw) if r is not None]

    def rule(self, raw: Any, *, header: bool, line: int) -> Rule | None:
        if not isinstance(raw, dict):
            self.problem(line, "a rule must be a mapping")
            return None
        line = _line(raw)
        self.check_keys(raw, _RULE_KEYS, "a rule")
        ok = True
        if bool(raw.get("target")) == bool(raw.get("group")):
            self.problem(line, "a rule needs exactly one of 'target' or 'group'")
            ok = False
        if raw.get("group") and header:
            self.problem(line, "'group' rules belong under 'items'")
        if raw.get("target") and not (raw.get("from") or "default" in raw or raw.get("parts")):
            self.problem(line, "a 'target' rule needs 'from', 'parts' or 'default'")
        if header and raw.get("target") and raw.get("target") not in HEADER_FIELDS:
            self.problem(line, f"unknown header field '{raw.get('target')}'; see docs/mappings.md")
        if raw.get("convert") is not None and raw["convert"] not in CONVERSIONS:
            self.problem(line, f"'convert' must be one of {sorted(CONVERSIONS)}")
        if raw.get("pattern") is not None:
            try:
                str(raw["pattern"]).format("x")
            except (KeyError, IndexError, ValueError):
                self.problem(line, "'pattern' may only hold '{}' where the value goes")
        if raw.get("for") is not None:
            self.selector(str(raw["for"]), line)
        source = self.expr(raw["from"], line, "'from'") if raw.get("from") is not None else None
        order_by = self.expr(raw["order_by"], line, "'order_by'") if raw.get("order_by") is not None else None
        return Rule(
            line=line, target=raw.get("target"), group=raw.get("group"), source=source,
            each=raw.get("for"), order_by=order_by,
            parts=self.parts(raw["parts"], line, "parts") if raw.get("parts") is not None else {},
            convert=raw.get("convert"), default=_plain_deep(raw.get("default")), required=raw.get("required"),
            when=self.condition(raw.get("when"), line), map=raw.get("map"), system=raw.get("system"),
            pattern=raw.get("pattern"), note=raw.get("note"),
            rules=tuple(self.rules(raw.get("items") or [], header=False, line=line)),
        ) if ok else None

    def condition(self, raw: Any, line: int) -> Condition | None:
        if raw is None:
            return None
        if not isinstance(raw, dict) or raw.get("path") is None:
            self.problem(line, "a condition needs a 'path' and one of 'equals', 'exists', 'in'")
            return None
        self.check_keys(raw, _WHEN_KEYS, "a condition")
        path = self.expr(raw["path"], line, "'path'")
        if path is None:
            return None
        return Condition(path=path, equals=raw.get("equals"), exists=raw.get("exists"),
                         one_of=tuple(raw.get("in") or ()), line=line)

    def required_header(self, header: tuple[Rule, ...], line: int) -> None:
        """Without these there is no submission: the file must say where each comes from."""
        have = {r.target for r in header}
        for name in sorted(REQUIRED_HEADER - have):
            self.problem(_line(self.data, "header", line), f"no 'header' rule for the required field '{name}'")
        for group in REQUIRED_HEADER_ONE_OF:
            if not have & set(group):
                self.problem(_line(self.data, "header", line),
                             f"no 'header' rule for any of {list(group)} (one is required)")


def _plain_deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_deep(v) for k, v in value.items() if k not in _META}
    return value


def table_url(fmt: str, name: str) -> str:
    """The canonical URL an inline code table gets (so ConceptMaps and tables can refer to it)."""
    return f"urn:lisn:mapping:{fmt}:codes:{name}"
