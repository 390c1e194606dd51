"""The HTML report (adapter.stats.report): self-contained, four charts with their tables, Swedish labels,
hidden counts never drawn or printed."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

from adapter.flows.stats import REPORT
from adapter.stats.dimensions import FIELDS
from adapter.stats.disclosure import protect
from adapter.stats.report import render_report
from adapter.stats.row import statistics_row
from adapter.stats.synth import outcome, received_at, synthetic_certificates


def tables(count: int) -> dict[str, object]:
    import random

    rng = random.Random(3)
    rows = []
    for bundle in synthetic_certificates(count, seed=3):
        row = dataclasses.asdict(statistics_row(bundle, received_at(bundle)))
        row["consent"] = outcome(rng).consent
        rows.append(row)
    found = {}
    for name, by in REPORT.items():
        counts = Counter(tuple(str(r[FIELDS[d]]) for d in by) for r in rows)
        found[name] = protect(by, counts.items(), threshold=5)
    return found


def test_the_page_is_self_contained_with_four_charts_and_their_tables() -> None:
    html = render_report(tables(300), period="2026-07 – 2026-11", created="2026-12-03")  # type: ignore[arg-type]
    assert html.count("<svg") == 4 and html.count("<table>") == 4
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert 'lang="sv"' in html and "Arbetsförmåga efter juridiskt kön" in html and "Kvinna" in html
    assert html.count('role="img" aria-label=') == 4
    assert "<b>300</b>" in html


def test_hidden_counts_are_never_printed() -> None:
    found = tables(40)  # few certificates: many small cells
    html = render_report(found, period="x", created="y")  # type: ignore[arg-type]
    assert ".." in html
    hidden_values = {c.key for t in found.values() for c in t.all() if c.count is None}  # type: ignore[attr-defined]
    assert hidden_values  # the case has hidden cells
    table_cells = re.findall(r"<td>([^<]*)</td>", html)
    assert all(v == ".." or not 0 < int(v.replace("\u202f", "")) < 5 for v in table_cells)
