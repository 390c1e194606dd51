"""``clock.parse_stamp`` (``fromisoformat`` on the exact shape ``clock.stamp`` writes; the store reads
its stamps with it) against ``clock.parse_stamp_strptime`` (``strptime``): the same instant, or the same error, on stamps of many
instants and on strings that are almost stamps (wrong digits, lengths, separators, out-of-range
fields, non-ASCII digits). Negative control: a fast path that drops the microseconds is caught."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapter import clock


def _answer(fn: Any, text: Any) -> tuple[str, Any]:
    try:
        found = fn(text)
    except Exception as exc:  # noqa: BLE001 - the general form's errors must stand too
        return "error", type(exc)
    return "value", (found, found.tzinfo, found.utcoffset())


def _inputs() -> list[Any]:
    rng = random.Random(15)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    found: list[Any] = []
    for _ in range(3000):
        moment = start + timedelta(microseconds=rng.randrange(0, 4_000_000_000_000_000))
        zone = timezone(timedelta(minutes=rng.randrange(-720, 720)))
        text = clock.stamp(moment.astimezone(zone))
        found.append(text)
        chars = list(text)
        at = rng.randrange(len(chars))
        chars[at] = rng.choice("0123456789-:.TZ x٣")
        found.append("".join(chars))
        found.append(text[: rng.randrange(len(text))])
        found.append(text + rng.choice(["", "Z", "0", " "]))
    found += ["2026-13-01T00:00:00.000000Z", "2026-02-30T00:00:00.000000Z", "2026-01-01T24:00:00.000000Z",
              "2026-01-01T23:60:00.000000Z", "2026-01-01T23:59:60.000000Z", "0000-01-01T00:00:00.000000Z",
              "2026-01-01 00:00:00.000000Z", "2026-01-01T00:00:00.000000", "2026-01-01T00:00:00Z", "",
              "２０２６-01-01T00:00:00.000000Z", None, 5, b"2026-01-01T00:00:00.000000Z"]
    return found


def _differences() -> list[Any]:
    return [t for t in _inputs() if _answer(clock.parse_stamp, t) != _answer(clock.parse_stamp_strptime, t)]


def test_the_fast_parse_answers_as_strptime() -> None:
    inputs = _inputs()
    assert sum(_answer(clock.parse_stamp_strptime, t)[0] == "value" for t in inputs) > 3000
    assert _differences() == []


def test_negative_control_a_wrong_fast_parse_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "datetime", _Truncating)
    assert _differences()


class _Truncating(datetime):
    @classmethod
    def fromisoformat(cls, text: str) -> datetime:  # type: ignore[override]
        return datetime.fromisoformat(text).replace(microsecond=0)
