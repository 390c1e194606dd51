"""The tally of each store (memory, SQLite, PostgreSQL) equals a direct count of the same synthetic rows,
for single- and multi-valued dimensions and month bounds."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from adapter.flows.ports import StatisticsRecord, Store
from adapter.stats.row import statistics_row
from adapter.stats.synth import received_at, synthetic_certificates

ROWS = [StatisticsRecord(submission_id=f"synthetic-{n:08d}",
                         **dataclasses.asdict(statistics_row(b, received_at(b))))
        for n, b in enumerate(synthetic_certificates(400, seed=11))]


def _read(row: StatisticsRecord, name: str) -> str:
    kind, _, code = name.partition(":")
    if kind == "activity":
        return row.activities.get(code, "ej-bedomd")
    if kind == "measure":
        return "ja" if code in row.measures else "nej"
    if name == "replacement":
        return "ja" if row.replacement else "nej"
    return str(getattr(row, name) or "okand")


@pytest.mark.parametrize("dims", [("sex",), ("sex", "age_band"), ("region", "work_capacity", "debut_band"),
                                  ("activity:sprak", "measure:sip", "sex"), ("month", "replacement", "consent")])
def test_the_tally_is_a_direct_count(store: Store, dims: tuple[str, ...]) -> None:
    with store.transaction() as tx:
        for row in ROWS:
            tx.add_statistics(row)
    with store.transaction() as tx:
        counted = dict(tx.tally_statistics(dims))
        autumn = dict(tx.tally_statistics(dims, months=("2026-09", "2026-10")))
    assert counted == Counter(tuple(_read(r, d) for d in dims) for r in ROWS)
    assert autumn == Counter(tuple(_read(r, d) for d in dims) for r in ROWS if "2026-09" <= r.month <= "2026-10")
    assert 0 < sum(autumn.values()) < len(ROWS)
