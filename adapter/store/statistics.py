"""The de-identified statistics rows (``certificate_statistics`` and its items) and their tally in SQL.

The tally is one ``GROUP BY`` over the asked dimensions; a multi-valued dimension
(``activity:<type>``, ``measure:<code>``) is one outer join on the items per dimension, so every
certificate falls in exactly one cell of any table and the cells add up to the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, FromClause

from adapter.flows.ports import STATISTICS_DIMENSIONS, StatisticsChanges, StatisticsRecord
from adapter.store.models import CertificateStatsItemRow, CertificateStatsRow

_ROWS = cast(Table, CertificateStatsRow.__table__)
_ITEMS = cast(Table, CertificateStatsItemRow.__table__)
ROWS, ITEMS = _ROWS, _ITEMS
_INSERT_ROW, _INSERT_ITEMS = insert(_ROWS), insert(_ITEMS)
_UPDATE_ROW = update(_ROWS).where(_ROWS.c.submission_id == bindparam("sid"))
_UPDATE_UNDELIVERED = _UPDATE_ROW.where(_ROWS.c.delivery_days.is_(None))
NOT_ASSESSED = "ej-bedomd"
UNKNOWN = "okand"


def add(session: Session, *records: StatisticsRecord) -> None:
    """Rows and their items: two Core statements, each one ``executemany`` (the items' ids are never read)."""
    rows, items = rows_of(records)
    if not rows:
        return
    conn = session.connection()
    conn.execute(_INSERT_ROW, rows)
    if items:
        conn.execute(_INSERT_ITEMS, items)


def rows_of(records: Iterable[StatisticsRecord]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``certificate_statistics`` rows of ``records`` and their items, as INSERT values."""
    rows: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for record in records:
        values = {f.name: getattr(record, f.name) for f in fields(record)}
        activities, measures = values.pop("activities"), values.pop("measures")
        rows.append(values)
        items += [{"submission_id": record.submission_id, "kind": "activity", "code": code, "level": level}
                  for code, level in sorted(activities.items())]
        items += [{"submission_id": record.submission_id, "kind": "measure", "code": code, "level": None}
                  for code in measures]
    return rows, items


def update_row(session: Session, submission_id: str, changes: StatisticsChanges) -> int:
    if not changes:
        return 0
    query = _UPDATE_UNDELIVERED if "delivery_days" in changes else _UPDATE_ROW  # the first delivery only
    return int(session.connection().execute(query, {"sid": submission_id, **changes}).rowcount)


def tally(session: Session, dimensions: tuple[str, ...], months: tuple[str | None, str | None]
          ) -> list[tuple[tuple[str, ...], int]]:
    stats = CertificateStatsRow.__table__
    items = CertificateStatsItemRow.__table__
    source: FromClause = stats
    columns: list[ColumnElement[Any]] = []
    for i, name in enumerate(dimensions):
        kind, _, code = name.partition(":")
        if name in STATISTICS_DIMENSIONS:
            columns.append(_column(stats, name))
            continue
        if kind not in ("activity", "measure") or not code:
            raise ValueError(f"unknown statistics dimension {name!r}")
        item = items.alias(f"item{i}")
        source = source.outerjoin(item, and_(item.c.submission_id == stats.c.submission_id, item.c.kind == kind,
                                             item.c.code == code))
        columns.append(func.coalesce(item.c.level, NOT_ASSESSED) if kind == "activity"
                       else case((item.c.id.is_not(None), "ja"), else_="nej"))
    query = select(*columns, func.count()).select_from(source)
    if months[0]:
        query = query.where(stats.c.month >= months[0])
    if months[1]:
        query = query.where(stats.c.month <= months[1])
    if columns:
        query = query.group_by(*columns)
    return [(tuple(str(v) for v in row[:-1]), int(row[-1])) for row in session.execute(query)
            if columns or row[-1]]


def _column(stats: Any, name: str) -> ColumnElement[Any]:
    if name == "replacement":
        return case((stats.c.replacement.is_(True), "ja"), else_="nej")
    if name == "consent":
        return func.coalesce(stats.c.consent, UNKNOWN)
    return stats.c[name]  # type: ignore[no-any-return]
