"""Writes a transaction holds back until it commits, sent together (:class:`Batch`).

A submission's transaction writes its status steps, its acceptance, its consent decision, the
Consents that came with it, its statistics row and its audit row only once it is done. Each of
those was a statement of its own; on PostgreSQL they now go in **one** statement, data-modifying
common table expressions::

    WITH w0 AS (INSERT INTO consents (...) VALUES (...)),
         w1 AS (UPDATE submissions SET ... WHERE id = ...),
         w2 AS (INSERT INTO submission_status (...) VALUES (...), (...)),
         ...
    UPDATE audit_head SET seq = ..., hash = ... WHERE id = ...

Every part runs exactly once and to completion, in one snapshot; foreign keys are checked at the
end of the statement (so a decision may name a Consent inserted beside it), a unique key refused
fails the whole statement (:class:`~adapter.flows.ports.WriteConflict`, as the single statement
did). Two rules follow from the one snapshot, and :class:`Batch` keeps both: no part reads what
another writes (the parts are plain ``INSERT ... VALUES`` and ``UPDATE ... WHERE key = value``), and
no row is updated by two parts (the changes to one row are merged into one ``UPDATE``).

SQLite has no data-modifying ``WITH``: there each part is its own statement (an ``executemany``
for the rows of one table), in the same order.

The parts go in a fixed order of tables (:data:`ORDER`), whatever order they were held in: the
order the foreign keys need when each part is its own statement (a Consent before the decision
that names it, a statistics row before its items).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, update
from sqlalchemy.engine import Connection, Dialect

ORDER = ("consents", "submissions", "submission_status", "consent_decisions", "certificate_statistics",
         "certificate_statistics_item", "audit_log", "audit_head")
"""The order the parts are written in (foreign keys first)."""

_Processors = dict[str, Callable[[Any], Any] | None]
_PROCESSORS: dict[tuple[str, str], _Processors] = {}
_TEXTS: dict[tuple[Any, ...], str] = {}
_CORE: dict[tuple[Any, ...], Any] = {}


class Batch:
    """Rows to insert and rows to update, per table, sent by :meth:`send`."""

    def __init__(self) -> None:
        self.inserts: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        self.updates: dict[str, tuple[Table, dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]]]] = {}

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """One row to insert (the rows of one table must name the same columns)."""
        if table.name not in ORDER:
            raise ValueError(f"{table.name} is not written in a batch")
        held = self.inserts.setdefault(table.name, (table, []))[1]
        if held and held[0].keys() != row.keys():
            raise ValueError(f"rows of {table.name} name different columns")
        held.append(row)

    def update(self, table: Table, where: dict[str, Any], values: dict[str, Any]) -> None:
        """Set ``values`` on the row whose columns equal ``where`` (merged with earlier changes to it)."""
        if table.name not in ORDER:
            raise ValueError(f"{table.name} is not written in a batch")
        rows = self.updates.setdefault(table.name, (table, {}))[1]
        key = tuple(sorted(where.items()))
        if key in rows:
            rows[key][1].update(values)
        else:
            rows[key] = (dict(where), dict(values))

    def clear(self) -> None:
        self.inserts.clear()
        self.updates.clear()

    def parts(self) -> list[tuple[str, Table, Any]]:
        """``("insert", table, rows)`` and ``("update", table, (where, values))`` in :data:`ORDER`."""
        out: list[tuple[str, Table, Any]] = []
        for name in ORDER:
            if name in self.inserts:
                table, rows = self.inserts[name]
                out.append(("insert", table, rows))
            if name in self.updates:
                table, changes = self.updates[name]
                out += [("update", table, change) for change in changes.values()]
        return out

    def send(self, conn: Connection, *, together: bool | None = None) -> int:
        """Write everything held (then forget it); returns the number of statements sent.
        ``together``: one statement (PostgreSQL only; the default there) or one per part."""
        parts = self.parts()
        self.clear()
        if not parts:
            return 0
        if together is None:
            together = conn.dialect.name == "postgresql"
        if together:
            sql, params = _one_statement(parts, conn.dialect)
            _execute_raw(conn, sql, params)
            return 1
        for kind, table, what in parts:
            if kind == "insert":
                conn.execute(_core_insert(table), what)
            else:
                where, values = what
                conn.execute(_core_update(table, tuple(where), tuple(values)),
                             {**{f"w_{k}": v for k, v in where.items()}, **values})
        return len(parts)


def _core_insert(table: Table) -> Any:
    key = ("insert", table.name)
    found = _CORE.get(key)
    if found is None:
        found = _CORE[key] = insert(table)
    return found


def _core_update(table: Table, where: tuple[str, ...], values: tuple[str, ...]) -> Any:
    key = ("update", table.name, where, values)
    found = _CORE.get(key)
    if found is None:
        found = _CORE[key] = (update(table).where(and_(*(table.c[k] == bindparam(f"w_{k}") for k in where)))
                              .values({k: bindparam(k) for k in values}))
    return found


def _processors(table: Table, dialect: Dialect) -> _Processors:
    """Each column's conversion of a Python value for the driver (JSON, bytes), as SQLAlchemy does it."""
    key = (table.name, dialect.name)
    found = _PROCESSORS.get(key)
    if found is None:
        found = _PROCESSORS[key] = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.c}
    return found


def _execute_raw(conn: Connection, sql: str, params: tuple[Any, ...]) -> None:
    """``sql`` with PostgreSQL's own ``$1, $2, ...`` placeholders, through SQLAlchemy (its events,
    its error handling) on a psycopg ``RawCursor``. psycopg's ordinary cursor rewrites
    ``%(name)s`` placeholders with a regular expression on every execution of a statement of more
    than 50 parameters (it caches only smaller ones): a quarter of a millisecond here, each time."""
    from psycopg import RawCursor

    dbapi = conn.connection.dbapi_connection
    factory = dbapi.cursor_factory  # type: ignore[union-attr]
    dbapi.cursor_factory = RawCursor  # type: ignore[union-attr]
    try:
        conn.exec_driver_sql(sql, params)
    finally:
        dbapi.cursor_factory = factory  # type: ignore[union-attr]


def _one_statement(parts: list[tuple[str, Table, Any]], dialect: Dialect) -> tuple[str, tuple[Any, ...]]:
    """The PostgreSQL statement (placeholders ``$1``, ``$2``, ...) and its parameters."""
    params: list[Any] = []
    shape: list[Any] = []
    for kind, table, what in parts:
        convert = _processors(table, dialect)
        if kind == "insert":
            columns = tuple(what[0])
            shape.append((kind, table.name, columns, len(what)))
            for row in what:
                params += [_bind(convert[column], row[column]) for column in columns]
        else:
            where, values = what
            shape.append((kind, table.name, tuple(where), tuple(values)))
            params += [_bind(convert[column], value) for column, value in (*values.items(), *where.items())]
    key = tuple(shape)
    sql = _TEXTS.get(key)
    if sql is None:
        sql = _TEXTS[key] = _text(shape, dialect)
    return sql, tuple(params)


def _bind(convert: Callable[[Any], Any] | None, value: Any) -> Any:
    # As SQLAlchemy does: None too goes through the conversion (a JSON column's None is JSON null).
    return convert(value) if convert is not None else value


def _text(shape: list[Any], dialect: Dialect) -> str:
    quote = dialect.identifier_preparer.quote
    number = 0

    def slot() -> str:
        nonlocal number
        number += 1
        return f"${number}"

    statements = []
    for kind, name, first, second in shape:
        if kind == "insert":
            rows = ", ".join("(" + ", ".join(slot() for _ in first) + ")" for _ in range(second))
            statements.append(f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in first)}) VALUES {rows}")
        else:
            sets = ", ".join(f"{quote(c)} = {slot()}" for c in second)
            where = " AND ".join(f"{quote(c)} = {slot()}" for c in first)
            statements.append(f"UPDATE {quote(name)} SET {sets} WHERE {where}")
    if len(statements) == 1:
        return statements[0]
    ctes = ", ".join(f"w{i} AS ({s})" for i, s in enumerate(statements[:-1]))
    return f"WITH {ctes} {statements[-1]}"
