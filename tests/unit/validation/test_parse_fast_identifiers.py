"""identifiers.luhn_ok sums ASCII digits in C (a translation table doubles every other one) and
_person_number makes the birth date once; both held to the loops they replaced, on any text.
Negative control: a table with one doubled digit wrong is caught."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation import identifiers

_DIGITS = st.text(alphabet="0123456789", max_size=16)
_ANY = st.text(alphabet="0123456789٣²x -", max_size=14)


def _luhn_before(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _answer(check: object, value: str) -> object:
    try:
        return check(value)  # type: ignore[operator]
    except ValueError as exc:
        return type(exc)


@settings(max_examples=1000, deadline=None)
@given(_DIGITS | _ANY)
def test_luhn_is_the_loop(digits: str) -> None:
    assert _answer(identifiers.luhn_ok, digits) == _answer(_luhn_before, digits)


def _person_before(value: str, *, day_offset: int, prefix: str, today: date | None) -> str | None:
    if not identifiers._TWELVE.match(value):
        return f"{prefix}_SHORT_FORM" if identifiers._SHORT_OR_HYPHEN.match(value) else f"{prefix}_FORMAT"
    y, m, d = int(value[:4]), int(value[4:6]), int(value[6:8]) - day_offset
    try:
        date(y, m, d)
    except ValueError:
        return f"{prefix}_DATE"
    if not identifiers.EARLIEST_BIRTH <= date(y, m, d) <= (today or date.today()):
        return f"{prefix}_BIRTH_DATE"
    if not _luhn_before(value[2:]):
        return f"{prefix}_CHECKSUM"
    return None


_NUMBERS = st.builds(lambda y, m, d, n: f"{y:04d}{m:02d}{d:02d}{n:04d}", st.integers(0, 2100), st.integers(0, 13),
                     st.integers(0, 95), st.integers(0, 9999))


@settings(max_examples=1000, deadline=None)
@given(_NUMBERS | _ANY, st.sampled_from([0, 60]), st.sampled_from([None, date(2000, 1, 1)]))
def test_person_number_is_as_before(value: str, offset: int, today: date | None) -> None:
    assert identifiers._person_number(value, day_offset=offset, prefix="P", today=today) == \
        _person_before(value, day_offset=offset, prefix="P", today=today)


def test_a_wrong_table_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identifiers, "_DOUBLED", str.maketrans("0123456789", "0246813597"))
    assert any(identifiers.luhn_ok(f"{n:012d}") != _luhn_before(f"{n:012d}") for n in range(0, 10**6, 7919))
