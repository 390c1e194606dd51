"""Side inputs: values a mapping needs that the document does not hold (docs/mappings.md, "Side inputs").

A mapping declares what it accepts (``inputs:`` name, type, required, default); the caller
supplies values (``adapter convert --set NAME=VALUE``, ``map_export(..., inputs={...})``,
``$process-message?set=NAME=VALUE``). The values are checked against the declaration before
any rule runs; every problem is reported, naming the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapter import errors, messages
from adapter.inbound import values
from adapter.issues import Issues

TYPES = ("string", "date", "dateTime", "boolean", "integer", "decimal")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class InputDecl:
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    description: str | None = None
    line: int = 1


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["kommun=0180", ...]`` (``--set`` options, ``set`` query parameters) as a dict.

    A malformed pair or a name given twice raises InputRejected naming it.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not NAME.match(name):
            _reject("LISN_MAP_INPUT_SYNTAX", pair=pair[:60])
        if name in out:
            _reject("LISN_MAP_INPUT_TWICE", name=name)
        out[name] = value
    return out


def _reject(message_id: str, **args: str) -> None:
    raise errors.InputRejected(messages.bilingual(message_id, **args), message_id=message_id, expression="set")


def resolve(declared: Mapping[str, InputDecl], given: Mapping[str, Any], issues: Issues, *,
            label: str, timezone: str) -> tuple[dict[str, Any], frozenset[str]]:
    """The value of every declared input (given, else its default), converted to its type, and
    the names that failed.

    Unknown names, missing required inputs and values of the wrong type become issues; the
    inputs that are fine are returned, so the rest of the mapping still runs, and a rule that
    reads a failed input is skipped rather than reported a second time.
    """
    for name in sorted(set(given) - set(declared)):
        issues.add("LISN_MAP_INPUT_UNKNOWN", expression=f"input:{name}", name=name,
                   known=", ".join(sorted(declared)) or "-", file=label)
    out: dict[str, Any] = {}
    failed: set[str] = set()
    for name, decl in declared.items():
        raw = given.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if decl.default is not None:
                raw = decl.default
            elif decl.required:
                issues.add("LISN_MAP_INPUT_MISSING", expression=f"input:{name}", code="required", name=name,
                           diagnostics=f"{label}:{decl.line}", file=label, line=decl.line)
                failed.add(name)
                continue
            else:
                continue
        try:
            out[name] = values.SCALAR[decl.type](raw, timezone=timezone)
        except values.ConversionError as exc:
            issues.add("LISN_MAP_INPUT_INVALID", expression=f"input:{name}", name=name, type=decl.type,
                       reason=str(exc), diagnostics=f"{label}:{decl.line}", file=label, line=decl.line)
            failed.add(name)
    return out, frozenset(failed)
