"""Helpers shared by the CLI commands: printing outcomes, exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from adapter import errors

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def outcome_text(oo: dict[str, Any], label: str = "") -> str:
    """A human-readable rendering of an OperationOutcome, one line per issue."""
    lines = []
    for iss in oo.get("issue", []):
        where = ", ".join(iss.get("expression", []))
        mid = errors.message_id_of(iss) or ""
        text = (iss.get("details") or {}).get("text") or iss.get("diagnostics") or ""
        lines.append(f"{iss.get('severity', '?').upper():<11} {where or '-'}  {text}"
                     + (f"  [{mid}]" if mid else ""))
    head = f"== {label}" if label else ""
    return "\n".join(([head] if head else []) + lines)


def fail(exc: errors.AdapterError, fmt: str = "text", code: int = EXIT_USAGE) -> NoReturn:
    """Print an AdapterError's outcome to stderr (text) or stdout (json) and exit."""
    if fmt == "json":
        echo_json(exc.outcome)
    else:
        click.echo(outcome_text(exc.outcome), err=True)
    sys.exit(code)
