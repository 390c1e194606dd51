"""Mapping files: the declarative description of one source format (docs/mappings.md).

A mapping file is YAML. It names the source syntax (``xml``, ``json``, ``flat``, ``fhir``),
the selectors' namespaces, and two lists of rules: ``header`` (patient, issuer, care unit,
care provider, recipient, authored, certificate id, ...) and ``items`` (linkIds of the
template). Every rule remembers its line in the file so that a mapping error can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import yaml

from adapter import errors, messages
from adapter.inbound.bundle import HEADER_FIELDS

SYNTAXES = frozenset({"xml", "json", "flat", "fhir"})
CONVERSIONS = frozenset({"string", "text", "date", "dateTime", "boolean", "integer", "decimal",
                         "quantity", "coding", "identifier", "resource"})
_TOP_KEYS = frozenset({"format", "syntax", "description", "root", "namespaces", "timezone", "template",
                       "systems", "parts", "ignore", "conceptmaps", "signature", "header", "items"})
_RULE_KEYS = frozenset({"target", "group", "from", "for", "order_by", "parts", "convert", "default",
                        "required", "when", "map", "system", "pattern", "items", "note"})
_WHEN_KEYS = frozenset({"path", "equals", "exists", "in"})


@dataclass(frozen=True)
class Condition:
    """``when:`` — the rule applies only if the value at ``path`` (relative) matches."""

    path: str
    equals: Any = None
    exists: bool | None = None
    one_of: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One line of a mapping: a value (``target``) or a group instance per context (``group``)."""

    line: int
    target: str | None = None
    group: str | None = None
    source: str | None = None
    each: str | None = None
    order_by: str | None = None
    parts: dict[str, str] = field(default_factory=dict)
    convert: str | None = None
    default: Any = None
    required: bool | None = None
    when: Condition | None = None
    map: str | None = None
    system: str | None = None
    pattern: str | None = None
    rules: tuple[Rule, ...] = ()

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
    parts: dict[str, dict[str, str]] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    conceptmaps: tuple[Path, ...] = ()
    signature: str | None = None

    @property
    def label(self) -> str:
        return self.path.name


# libyaml's parser where present (about 10x faster); the constructor stays the safe one.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_Base):  # type: ignore[misc]
    """A safe loader that records each mapping's line as ``__line__`` (1-based)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    # construct_mapping builds a dict; types-PyYAML types its keys and values as Any.
    data = cast(dict[str, Any], loader.construct_mapping(node, deep=True))
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _invalid(path: Path, line: int, problem: str) -> errors.MappingError:
    args = {"file": path.name, "line": line, "problem": problem}
    oo = errors.outcome([errors.issue("error", "invalid", messages.bilingual("LISN_MAP_FILE_INVALID", **args),
                                      message_id="LISN_MAP_FILE_INVALID",
                                      diagnostics=f"{path.name}:{line}")])
    return errors.MappingError(messages.text("LISN_MAP_FILE_INVALID", "en", **args), outcome=oo,
                               message_id="LISN_MAP_FILE_INVALID")


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; a problem raises MappingError naming the line.

    Parsed files are cached by path, size and modification time: an edited file is re-read.
    """
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
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _invalid(path, (mark.line + 1) if mark else 1, str(getattr(exc, "problem", exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _invalid(path, 1, f"cannot read ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _invalid(path, 1, "the file must be a YAML mapping")
    return _mapping(path, data)


def _mapping(path: Path, data: dict[str, Any]) -> Mapping:
    line = int(data.get("__line__", 1))
    _check_keys(path, data, _TOP_KEYS, "top level")
    syntax = data.get("syntax")
    if syntax not in SYNTAXES:
        raise _invalid(path, line, f"'syntax' must be one of {sorted(SYNTAXES)}")
    for key in ("format",):
        if not isinstance(data.get(key), str):
            raise _invalid(path, line, f"'{key}' is required")
    parts = {k: _str_dict(path, v, f"parts.{k}") for k, v in _plain(data.get("parts") or {}).items()}
    try:
        ZoneInfo(str(data.get("timezone") or "Europe/Stockholm"))
    except (ValueError, KeyError):
        raise _invalid(path, line, f"unknown timezone {data.get('timezone')!r}") from None
    return Mapping(
        path=path, format=data["format"], syntax=syntax,
        header=tuple(_rules(path, data.get("header") or [], header=True)),
        items=tuple(_rules(path, data.get("items") or [], header=False)),
        namespaces=_str_dict(path, data.get("namespaces") or {}, "namespaces"),
        root=data.get("root"), timezone=data.get("timezone") or "Europe/Stockholm",
        template=data.get("template"),
        systems=_str_dict(path, data.get("systems") or {}, "systems"),
        parts=parts,
        ignore=tuple(str(p) for p in data.get("ignore") or []),
        conceptmaps=tuple((path.parent / str(p)).resolve() for p in data.get("conceptmaps") or []),
        signature=data.get("signature"),
    )


def _plain(value: Any) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "__line__"} if isinstance(value, dict) else {}


def _str_dict(path: Path, value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _invalid(path, 1, f"'{what}' must be a mapping of names to strings")
    return {str(k): str(v) for k, v in _plain(value).items()}


def _check_keys(path: Path, data: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(k for k in data if k != "__line__" and k not in allowed)
    if unknown:
        raise _invalid(path, int(data.get("__line__", 1)), f"unknown key(s) {unknown} at {where}")


def _rules(path: Path, raw: Any, *, header: bool) -> list[Rule]:
    if not isinstance(raw, list):
        raise _invalid(path, 1, "'header' and 'items' must be lists of rules")
    return [_rule(path, r, header=header) for r in raw]


def _rule(path: Path, raw: Any, *, header: bool) -> Rule:
    if not isinstance(raw, dict):
        raise _invalid(path, 1, "a rule must be a mapping")
    line = int(raw["__line__"])
    _check_keys(path, raw, _RULE_KEYS, "a rule")
    if bool(raw.get("target")) == bool(raw.get("group")):
        raise _invalid(path, line, "a rule needs exactly one of 'target' or 'group'")
    if raw.get("group") and header:
        raise _invalid(path, line, "'group' rules belong under 'items'")
    if raw.get("target") and not (raw.get("from") or "default" in raw):
        raise _invalid(path, line, "a 'target' rule needs 'from' or 'default'")
    if header and raw.get("target") not in HEADER_FIELDS:
        raise _invalid(path, line, f"unknown header field '{raw.get('target')}'; see docs/mappings.md")
    if raw.get("convert") is not None and raw["convert"] not in CONVERSIONS:
        raise _invalid(path, line, f"'convert' must be one of {sorted(CONVERSIONS)}")
    if raw.get("pattern") is not None:
        try:
            str(raw["pattern"]).format("x")
        except (KeyError, IndexError, ValueError):
            raise _invalid(path, line, "'pattern' may only hold '{}' where the value goes") from None
    return Rule(
        line=line, target=raw.get("target"), group=raw.get("group"), source=raw.get("from"),
        each=raw.get("for"), order_by=raw.get("order_by"),
        parts=_str_dict(path, raw.get("parts") or {}, "parts"),
        convert=raw.get("convert"), default=raw.get("default"), required=raw.get("required"),
        when=_condition(path, raw.get("when"), line), map=raw.get("map"), system=raw.get("system"),
        pattern=raw.get("pattern"),
        rules=tuple(_rules(path, raw.get("items") or [], header=False)),
    )


def _condition(path: Path, raw: Any, line: int) -> Condition | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise _invalid(path, line, "'when' needs a 'path' and one of 'equals', 'exists', 'in'")
    _check_keys(path, raw, _WHEN_KEYS, "'when'")
    return Condition(path=raw["path"], equals=raw.get("equals"), exists=raw.get("exists"),
                     one_of=tuple(raw.get("in") or ()))
