"""Just enough UCUM to compare quantities in min/max checks (https://ucum.org/ucum).

A unit code is split into ``numerator/denominator`` atoms, each an optional metric prefix plus a
base or customary unit with an optional integer exponent; it becomes a factor and a dimension
vector. Two quantities compare when their dimensions are equal. Codes outside this table are
"not comparable", which the caller reports (as the HL7 validator does without a UCUM service).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

UCUM = "http://unitsofmeasure.org"

_PREFIX = {"Y": "1e24", "Z": "1e21", "E": "1e18", "P": "1e15", "T": "1e12", "G": "1e9", "M": "1e6",
           "k": "1e3", "h": "1e2", "da": "1e1", "d": "1e-1", "c": "1e-2", "m": "1e-3", "u": "1e-6",
           "n": "1e-9", "p": "1e-12", "f": "1e-15"}
# unit -> (factor to the base unit, dimension: length, mass, time, amount, temperature)
_UNITS: dict[str, tuple[str, tuple[int, int, int, int, int]]] = {
    "m": ("1", (1, 0, 0, 0, 0)), "g": ("1", (0, 1, 0, 0, 0)), "s": ("1", (0, 0, 1, 0, 0)),
    "mol": ("1", (0, 0, 0, 1, 0)), "K": ("1", (0, 0, 0, 0, 1)), "L": ("0.001", (3, 0, 0, 0, 0)),
    "l": ("0.001", (3, 0, 0, 0, 0)), "min": ("60", (0, 0, 1, 0, 0)), "h": ("3600", (0, 0, 1, 0, 0)),
    "d": ("86400", (0, 0, 1, 0, 0)), "wk": ("604800", (0, 0, 1, 0, 0)),
    "mo": ("2629800", (0, 0, 1, 0, 0)), "a": ("31557600", (0, 0, 1, 0, 0)),
    "[in_i]": ("0.0254", (1, 0, 0, 0, 0)), "[ft_i]": ("0.3048", (1, 0, 0, 0, 0)),
    "[yd_i]": ("0.9144", (1, 0, 0, 0, 0)), "[mi_i]": ("1609.344", (1, 0, 0, 0, 0)),
    "[lb_av]": ("453.59237", (0, 1, 0, 0, 0)), "[oz_av]": ("28.349523125", (0, 1, 0, 0, 0)),
    "t": ("1e6", (0, 1, 0, 0, 0)), "%": ("0.01", (0, 0, 0, 0, 0)), "1": ("1", (0, 0, 0, 0, 0)),
}
_ATOM = re.compile(r"(\[[^\]]+\]|[A-Za-z%]+|1)(-?\d+)?")


def canonical(value: Decimal, code: str) -> tuple[Decimal, tuple[int, ...]] | None:
    """``value`` in base units and the dimension of ``code``, or None when the code is not known."""
    num, _, den = code.partition("/")
    top = _term(num)
    bottom = _term(den) if den else (Decimal(1), (0, 0, 0, 0, 0))
    if top is None or bottom is None:
        return None
    dim = tuple(a - b for a, b in zip(top[1], bottom[1]))
    return value * top[0] / bottom[0], dim


def _term(text: str) -> tuple[Decimal, tuple[int, ...]] | None:
    """The factor and dimension of a product of atoms; a short text's is remembered (a pure function
    of the text in the default decimal context, which nothing here changes; the same units come
    back), a long one's (input, not a unit) is worked out each time and never kept."""
    return _short_term(text) if len(text) <= _REMEMBERED_UP_TO else _product(text)


_REMEMBERED_UP_TO = 40


@lru_cache(maxsize=1024)
def _short_term(text: str) -> tuple[Decimal, tuple[int, ...]] | None:
    return _product(text)


def _product(text: str) -> tuple[Decimal, tuple[int, ...]] | None:
    factor, dim = Decimal(1), [0, 0, 0, 0, 0]
    for part in text.split("."):
        m = _ATOM.fullmatch(part)
        if not m:
            return None
        unit = _unit(m.group(1))
        if unit is None:
            return None
        exp = int(m.group(2) or 1)
        factor *= unit[0] ** exp
        dim = [d + u * exp for d, u in zip(dim, unit[1])]
    return factor, tuple(dim)


def _unit(atom: str) -> tuple[Decimal, tuple[int, ...]] | None:
    if atom in _UNITS:
        f, d = _UNITS[atom]
        return Decimal(f), d
    for plen in (2, 1):
        prefix, rest = atom[:plen], atom[plen:]
        if prefix in _PREFIX and rest in _UNITS and not rest.startswith("["):
            f, d = _UNITS[rest]
            return Decimal(_PREFIX[prefix]) * Decimal(f), d
    return None
