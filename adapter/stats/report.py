"""``adapter stats report``: one self-contained HTML page (inline SVG charts, inline CSS, no script, no
external file) with four charts and the protected tables behind them, in Swedish.

Charts are drawn with matplotlib (SVG backend, no display) in the Okabe–Ito palette, which stays
distinguishable with the common colour-vision deficiencies; every chart has a text alternative
and its table. A hidden count is never drawn as a number: its bar is left out and marked ``..``,
shares are computed from what the table shows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display; before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402
from markupsafe import escape  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from adapter.stats.disclosure import ALL, Table  # noqa: E402
from adapter.stats.render import HIDDEN, dimension_label, value_label  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
HIDDEN_GREY = "#BBBBBB"
plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 10, "svg.fonttype": "none",
                     "axes.spines.top": False, "axes.spines.right": False})


@dataclass(frozen=True)
class Section:
    title: str
    description: str
    svg: str
    table: Table


def render_report(tables: dict[str, Table], *, period: str, created: str) -> str:
    """The HTML page of the tables of ``flows.stats.REPORT``."""
    sections = [
        Section("Arbetsförmåga efter juridiskt kön",
                "Antal intyg per bedömd arbetsförmåga, kvinnor och män bredvid varandra.",
                _grouped_bars(tables["sex_capacity"], across=1, groups=0), tables["sex_capacity"]),
        Section("Tid från debut till intyg, per län",
                "Andel av länets intyg per antal dagar från att den nedsatta förmågan började till intyget; "
                "grått är dolda tal.", _stacked_shares(tables["region_debut"]), tables["region_debut"]),
        Section("Utlämnade och innehållna intyg, efter juridiskt kön",
                "Andel intyg som lämnats ut, hålls inne i väntan på samtycke eller där samtycket återkallats.",
                _stacked_shares(tables["sex_consent"]), tables["sex_consent"]),
        Section("Intyg per månad", "Antal mottagna intyg per månad, kvinnor och män.",
                _trend(tables["month_sex"]), tables["month_sex"]),
    ]
    template = _environment().get_template("report.html.j2")
    total = tables["sex_capacity"].total
    return template.render(sections=sections, period=period, created=created, hidden=HIDDEN,
                           total=HIDDEN if total.count is None else total.count,
                           threshold=tables["sex_capacity"].threshold, rows=_rows)


def _rows(table: Table) -> dict[str, Any]:
    """Header and rows of a table as a grid (first dimension down, second across), margins included."""
    down, across = table.values(0), table.values(1)
    shown = {c.key: c.count for c in table.all()}
    grid = [[value_label(_name(table, 0), d)] + [_text(shown.get((d, a))) for a in across]
            + [_text(shown.get((d, ALL)))] for d in down]
    grid.append(["Totalt"] + [_text(shown.get((ALL, a))) for a in across] + [_text(shown.get((ALL, ALL)))])
    head = [dimension_label(_name(table, 0))] + [value_label(_name(table, 1), a) for a in across] + ["Totalt"]
    return {"head": head, "body": grid}


def _name(table: Table, i: int) -> str:
    return table.dimensions[i]


def _text(count: int | None) -> str:
    return HIDDEN if count is None else f"{count:,}".replace(",", "\u202f")


def _svg(fig: Any, alt: str) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(alt)}" ', 1)


def _grouped_bars(table: Table, *, across: int, groups: int) -> str:
    xs, series = table.values(across), table.values(groups)
    shown = {c.key: c.count for c in table.cells}
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / max(len(series), 1)
    for s, name in enumerate(series):
        for x, value in enumerate(xs):
            key = tuple(name if i == groups else value for i in range(2))
            count = shown.get(key)
            pos = x + (s - (len(series) - 1) / 2) * width
            if count is None:
                ax.text(pos, 0, HIDDEN, ha="center", va="bottom", color="#555555")
            else:
                ax.bar(pos, count, width * 0.95, color=OKABE_ITO[s % len(OKABE_ITO)],
                       label=value_label(table.dimensions[groups], name) if x == 0 else None)
    ax.set_xticks(range(len(xs)), [value_label(table.dimensions[across], v) for v in xs])
    ax.set_ylabel("Antal intyg")
    _legend(ax)
    return _svg(fig, f"Stapeldiagram: {dimension_label(table.dimensions[across])} efter "
                     f"{dimension_label(table.dimensions[groups]).lower()}")


def _stacked_shares(table: Table) -> str:
    """One horizontal 100 % bar per value of the first dimension, a segment per value of the second."""
    down, across = table.values(0), table.values(1)
    shown = {c.key: c.count for c in table.all()}
    fig, ax = plt.subplots(figsize=(9, 0.36 * len(down) + 1.2))
    labelled: set[str] = set()

    def label(text: str) -> str | None:
        if text in labelled:
            return None
        labelled.add(text)
        return text

    for row, name in enumerate(down):
        total = shown.get((name, ALL))
        if not total:
            ax.text(0.01, row, f"{HIDDEN} (dolt)", va="center", color="#555555")
            continue
        left = 0.0
        for s, value in enumerate(across):
            count = shown.get((name, value))
            if count:
                ax.barh(row, count / total, left=left, color=OKABE_ITO[s % len(OKABE_ITO)],
                        label=label(value_label(table.dimensions[1], value)))
                left += count / total
        if left < 0.999:  # what the hidden cells of the row add up to (the row total shows it anyway)
            ax.barh(row, 1 - left, left=left, color=HIDDEN_GREY, hatch="//", edgecolor="white", label=label("Dolt"))
    ax.set_yticks(range(len(down)), [value_label(table.dimensions[0], v) for v in down])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    order = [value_label(table.dimensions[1], v) for v in across] + ["Dolt"]
    handles = dict(zip(*reversed(ax.get_legend_handles_labels())))  # label -> handle
    if handles:  # the legend in the table's order, whatever row showed a segment first
        ax.legend([handles[t] for t in order if t in handles], [t for t in order if t in handles], frameon=False,
                  ncol=min(len(handles), 6), loc="upper center", bbox_to_anchor=(0.5, -0.06))
    return _svg(fig, f"Andelar: {dimension_label(table.dimensions[1])} per "
                     f"{dimension_label(table.dimensions[0]).lower()}")


def _trend(table: Table) -> str:
    months, series = table.values(0), table.values(1)
    shown = {c.key: c.count for c in table.cells}
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for s, name in enumerate(series):
        ys = [shown.get((m, name)) for m in months]
        ax.plot(range(len(months)), [float("nan") if y is None else y for y in ys], marker="o",
                color=OKABE_ITO[s % len(OKABE_ITO)], label=value_label(table.dimensions[1], name))
    ax.set_xticks(range(len(months)), months)
    ax.set_ylabel("Antal intyg")
    ax.set_ylim(bottom=0)
    _legend(ax)
    return _svg(fig, "Linjediagram: intyg per månad efter juridiskt kön")


def _legend(ax: Any, **options: Any) -> None:
    if ax.get_legend_handles_labels()[0]:  # everything may be hidden: then there is nothing to explain
        ax.legend(frameon=False, **options)


def _environment() -> Environment:
    return Environment(loader=PackageLoader("adapter.stats", "templates"),
                       autoescape=select_autoescape(["html", "j2"]))
