"""Disclosure control: a table of counts in which no count under the threshold can be seen or worked out.

A table over dimensions ``d1..dk`` publishes its cells (every combination of the values seen),
the one-dimension margins (the total for each value of each dimension) and the grand total.
They are tied by equations: each margin is the sum of the cells of its slice, and for each
dimension the grand total is the sum of its margins (one dimension: the total is the sum of
the cells).

- **Primary suppression**: every published number from 1 to ``threshold - 1`` is hidden.
  A zero is shown: it tells that nobody is in the cell, about nobody.
- **Secondary suppression**: an equation with exactly one hidden number would give it back by
  subtraction, so the smallest non-zero visible number of the same equation (a cell before a
  margin, a margin before the total) is hidden too; repeated over rows, columns and margins of
  every dimension until no equation has a lone hidden number. Then an exact check: a hidden
  number is worked out when the equations with everything visible moved to one side pin it down
  (its unit vector lies in the row space of the system, computed by exact elimination modulo a
  large prime); any such number gets one more neighbour hidden, and the check runs again.

What this does not promise (docs/statistics.md): bounds. Counts are not negative, so a hidden
pair in a row whose visible total leaves 3 is known to lie in 0..3 each; the threshold bounds
what a hidden cell can be, not how narrow a reader's interval is.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from adapter.stats import codes

ALL = "*"
"""The value of a dimension a margin sums over."""
PRIME = (1 << 61) - 1


@dataclass(frozen=True)
class Cell:
    """One published number: a cell, a margin (``*`` in the dimensions it sums over) or the total."""

    key: tuple[str, ...]
    count: int | None
    """None when hidden."""
    suppressed: str | None = None
    """``primary`` (under the threshold) or ``secondary`` (would give a hidden one away)."""


@dataclass(frozen=True)
class Table:
    dimensions: tuple[str, ...]
    threshold: int
    cells: tuple[Cell, ...]
    margins: tuple[Cell, ...]
    total: Cell

    def all(self) -> tuple[Cell, ...]:
        return (*self.cells, *self.margins, self.total)

    def values(self, index: int) -> list[str]:
        """The values of dimension ``index`` in the table, in order."""
        return list(dict.fromkeys(c.key[index] for c in self.cells))


Key = tuple[str, ...]
Equation = tuple[Key, tuple[Key, ...]]
"""``total == sum(parts)``."""


def protect(dimensions: Iterable[str], counts: Iterable[tuple[Key, int]], *, threshold: int = 5,
            secondary: bool = True) -> Table:
    """The protected table of ``counts`` (``(values, count)`` for the combinations that occur).
    ``secondary=False`` leaves only the primary suppression (for tests that show why it is needed)."""
    dims = tuple(dimensions)
    given = dict(counts)
    values = [sorted({key[i] for key in given}, key=codes.sort_key(dims[i])) for i in range(len(dims))]
    cells = {key: given.get(key, 0) for key in itertools.product(*values)} if dims else {}
    items, equations = _structure(dims, values, cells, sum(given.values()))
    hidden = {key: "primary" for key, n in items.items() if 0 < n < threshold}
    if secondary:
        _secondary(items, hidden, equations, cells)
    return _table(dims, threshold, items, hidden, cells)


def equations_of(table: Table) -> list[Equation]:
    """The equations that tie the published numbers of ``table`` (for checks and tests)."""
    dims = table.dimensions
    values = [table.values(i) for i in range(len(dims))]
    cells = {c.key: 0 for c in table.cells}
    return _structure(dims, values, cells, 0)[1]


def _structure(dims: tuple[str, ...], values: list[list[str]], cells: dict[Key, int], total: int
               ) -> tuple[dict[Key, int], list[Equation]]:
    everything = (ALL,) * len(dims)
    items: dict[Key, int] = dict(cells)
    items[everything] = total
    if len(dims) == 1:
        return items, [(everything, tuple(cells))]
    equations: list[Equation] = []
    for i in range(len(dims)):
        margins = []
        for value in values[i]:
            key = tuple(value if j == i else ALL for j in range(len(dims)))
            parts = tuple(k for k in cells if k[i] == value)
            items[key] = sum(cells[k] for k in parts)
            equations.append((key, parts))
            margins.append(key)
        equations.append((everything, tuple(margins)))
    return items, equations


def _secondary(items: dict[Key, int], hidden: dict[Key, str], equations: list[Equation],
               cells: dict[Key, int]) -> None:
    def cost(key: Key) -> tuple[int, int, int]:
        # Cells before margins before the total; a non-zero before a zero; then the smallest.
        return (key.count(ALL), items[key] == 0, items[key])

    def hide_beside(members: Iterable[Key]) -> bool:
        visible = [k for k in members if k not in hidden]
        if not visible:
            return False
        hidden[min(visible, key=cost)] = "secondary"
        return True

    while True:
        changed = False
        for total, parts in equations:
            members = (total, *parts)
            if sum(k in hidden for k in members) == 1:
                changed |= hide_beside(members)
        if changed:
            continue
        exposed = determined(items, hidden, equations)
        if not exposed:
            return
        for key in exposed:
            if not any(hide_beside((t, *p)) for t, p in equations if key == t or key in p):
                hide_beside(items)  # nothing beside it is left to hide: the smallest anywhere


def determined(items: dict[Key, int], hidden: dict[Key, str] | set[Key], equations: list[Equation]) -> list[Key]:
    """The hidden keys whose value the equations pin down (exact elimination modulo a large prime)."""
    index = {key: i for i, key in enumerate(sorted(hidden))}
    rows: list[dict[int, int]] = []
    for total, parts in equations:
        row: dict[int, int] = {}
        for key, sign in ((total, PRIME - 1), *((p, 1) for p in parts)):
            if key in index:
                row[index[key]] = (row.get(index[key], 0) + sign) % PRIME
        row = {k: v for k, v in row.items() if v}
        if row:
            rows.append(row)
    names = {i: key for key, i in index.items()}
    return [names[next(iter(r))] for r in _reduced(rows) if len(r) == 1]


def _reduced(rows: list[dict[int, int]]) -> list[dict[int, int]]:
    """The reduced row echelon form of sparse rows modulo :data:`PRIME` (its non-zero rows)."""
    pivots: dict[int, dict[int, int]] = {}
    for row in rows:
        row = dict(row)
        for col, prow in pivots.items():
            if col in row:
                _subtract(row, prow, row[col])
        if not row:
            continue
        col = min(row)
        inverse = pow(row[col], PRIME - 2, PRIME)
        row = {k: v * inverse % PRIME for k, v in row.items()}
        for other in pivots.values():
            if col in other:
                _subtract(other, row, other[col])
        pivots[col] = row
    return list(pivots.values())


def _subtract(row: dict[int, int], pivot: dict[int, int], factor: int) -> None:
    for k, v in pivot.items():
        new = (row.get(k, 0) - factor * v) % PRIME
        if new:
            row[k] = new
        else:
            row.pop(k, None)


def _table(dims: tuple[str, ...], threshold: int, items: dict[Key, int], hidden: dict[Key, str],
           cells: dict[Key, int]) -> Table:
    def cell(key: Key) -> Cell:
        return Cell(key, None if key in hidden else items[key], hidden.get(key))

    everything = (ALL,) * len(dims)
    margins = tuple(cell(k) for k in items if k not in cells and k != everything)
    return Table(dims, threshold, tuple(cell(k) for k in cells), margins, cell(everything))
