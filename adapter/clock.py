"""Time: one clock protocol and one written form of an instant.

Every part of the adapter that needs the time takes a :class:`Clock` (``now()`` is an aware UTC
``datetime``), so a test can stand time still (``adapter.testing.FixedClock``) instead of
sleeping. Instants are written in one form, :func:`stamp` (ISO 8601 in UTC with microseconds and
a ``Z``): in the database, in the audit chain and wherever a stored time is compared as text; it
sorts as text in the order of time. FHIR output shows the same instant through
:func:`fhir_instant`, at the precision the element calls for.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal, Protocol

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """The written form of an instant: ``2026-11-23T12:00:00.000000Z`` (UTC, microseconds)."""
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def parse_stamp(text: str) -> datetime:
    """The instant a :func:`stamp` wrote: a stamp of exactly that shape by ``datetime.fromisoformat``
    (3 us instead of ``strptime``'s 12, several times a submission in the store), anything else by
    :func:`parse_stamp_strptime` (its answer or its error)."""
    if type(text) is str and _STAMP.fullmatch(text):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return parse_stamp_strptime(text)


def parse_stamp_strptime(text: str) -> datetime:
    """:func:`parse_stamp` by ``strptime`` alone (the general form, and its tests' reference)."""
    return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)


def fhir_instant(moment: datetime, timespec: Literal["seconds", "milliseconds"] = "seconds") -> str:
    """An instant as FHIR writes it (``2026-11-23T12:00:00Z``), at the precision asked for."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
