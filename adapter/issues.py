"""An issue collector: checks add issues and never stop at the first.

Usage, one line per rule, the condition stated positively::

    issues.check(len(items) <= 3, "LISN_DIAGNOS_MAX", expression=path, linkId="diagnos")

The collected issues become an OperationOutcome with ``issues.outcome()``;
only the caller decides whether errors make the request fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapter import errors, messages

# Default FHIR issue-type code per severity family; a rule can pass its own ``code``.
_DEFAULT_CODE = "invalid"


class Issues:
    """Collects OperationOutcome issues in the order they are found."""

    def __init__(self, lang: str = "sv") -> None:
        self.lang = lang
        self.items: list[dict[str, Any]] = []

    def add(self, message_id: str, *, expression: str | None = None, severity: str = "error",
            code: str = _DEFAULT_CODE, diagnostics: str | None = None, **args: Any) -> None:
        """Add an issue unconditionally."""
        self.items.append(errors.issue(
            severity, code, messages.bilingual(message_id, **args),
            expression=expression, message_id=message_id, diagnostics=diagnostics))

    def check(self, condition: Any, message_id: str, *, expression: str | None = None,
              severity: str = "error", code: str = _DEFAULT_CODE, **args: Any) -> bool:
        """Add an issue when ``condition`` is false; returns the condition as a bool."""
        if not condition:
            self.add(message_id, expression=expression, severity=severity, code=code, **args)
            return False
        return True

    def extend(self, other: Issues | list[dict[str, Any]]) -> None:
        self.items.extend(other.items if isinstance(other, Issues) else other)

    @property
    def has_errors(self) -> bool:
        return any(i["severity"] in ("error", "fatal") for i in self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def outcome(self) -> errors.OperationOutcome:
        return errors.outcome(self.items)
