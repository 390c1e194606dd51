"""An issue collector: checks add issues and never stop at the first.

Usage, one line per rule, the condition stated positively::

    issues.check(len(items) <= 3, "LISN_DIAGNOS_MAX", expression=path, linkId="diagnos")

The collected issues become an OperationOutcome with ``issues.outcome()``;
only the caller decides whether errors make the request fail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from adapter import errors, messages

LABEL_LENGTH = 60


@lru_cache(maxsize=2048)
def shorten(text: str, limit: int = LABEL_LENGTH) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters (with '…').

    Remembered: the same questions' texts come back with every response to a Questionnaire."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"


# Default FHIR issue-type code per severity family; a rule can pass its own ``code``.
DEFAULT_CODE = "invalid"  # an issue's code where its caller names none (Ctx.add hands on the same default)


class Issues:
    """Collects OperationOutcome issues in the order they are found."""

    def __init__(self, lang: str | None = None) -> None:
        self.lang = messages.check_lang(lang) if lang is not None else messages.current_lang()
        self.items: list[dict[str, Any]] = []
        self.questions: Mapping[str, Any] | None = None
        """linkId -> item definition of the Questionnaire being checked: messages with a ``linkId``
        then also get ``label``, the question as the physician saw it (its text, shortened)."""

    def add(self, message_id: str, *, expression: str | None = None, severity: str = "error",
            code: str = DEFAULT_CODE, diagnostics: str | None = None, **args: Any) -> None:
        """Add an issue unconditionally."""
        self.add_args(message_id, args, expression, severity, code, diagnostics)

    def add_args(self, message_id: str, args: dict[str, Any], expression: str | None = None,
                 severity: str = "error", code: str = DEFAULT_CODE, diagnostics: str | None = None) -> None:
        """:meth:`add` with the message's arguments in a dict, which the issue's text takes as its own
        (``label`` may be added to it): a caller that has gathered them into one (``Ctx.add``) passes it
        as it is, not unpacked into keywords to be packed again (some 2,000 instructions an issue)."""
        if "linkId" in args and "label" not in args:
            args["label"] = self.label(args["linkId"])
        text = messages.text_of(message_id, self.lang, args)
        if not message_id or (expression is not None and not isinstance(expression, str)):
            self.items.append(errors.issue(severity, code, text, expression=expression, message_id=message_id,
                                           diagnostics=diagnostics))
            return
        # errors.issue's issue for a message id and one expression, written out (an issue of every
        # check takes this way; tests/unit/validation/test_corpus_issues.py holds it to errors.issue)
        item = {"extension": [{"url": errors.MESSAGE_ID_URL, "valueString": message_id}],
                "severity": severity, "code": code,
                "details": {"coding": [{"system": messages.SYSTEM, "code": message_id}], "text": text}}
        if diagnostics:
            item["diagnostics"] = diagnostics
        if expression is not None:
            item["expression"] = [expression]
        self.items.append(item)

    def label(self, link_id: Any) -> str:
        """The question ``link_id`` as the physician saw it: its text, shortened, in quotes."""
        item = (self.questions or {}).get(link_id) if isinstance(link_id, str) else None
        shown = item.get("text") if isinstance(item, Mapping) else None
        return f"'{shorten(shown if isinstance(shown, str) and shown.strip() else str(link_id))}'"

    def check(self, condition: Any, message_id: str, *, expression: str | None = None,
              severity: str = "error", code: str = DEFAULT_CODE, **args: Any) -> bool:
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
        """``errors.outcome(self.items)``: a copy of each issue; none, the customary 'all OK' issue."""
        if self.items or not ALL_OK_SHORT:
            return errors.outcome(self.items)
        return all_ok()


def all_ok() -> errors.OperationOutcome:
    """``errors.outcome([])``, the outcome of a valid resource (its 'all OK' issue in the current
    language), written out: a new one each time (no part shared with another outcome), for about a
    sixth of the instructions of the general way (which looks up and formats the text and builds the
    issue through ``errors.issue``). ``tests/unit/validation/test_pos_fast_entry.py`` holds it to
    ``errors.outcome([])`` in both languages."""
    return {"resourceType": "OperationOutcome", "issue": [{
        "extension": [{"url": errors.MESSAGE_ID_URL, "valueString": "ALL_OK"}],
        "severity": "information", "code": "informational",
        "details": {"coding": [{"system": messages.SYSTEM, "code": "ALL_OK"}],
                    "text": messages.text_of("ALL_OK", None, _NO_ARGS)}}]}


_NO_ARGS: dict[str, Any] = {}  # (only read: text_of never writes to its arguments)
ALL_OK_SHORT = True  # False: every outcome by errors.outcome (the tests compare the two ways)
