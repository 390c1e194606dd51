"""``adapter stats``: protected tables of the de-identified statistics; ``adapter stats synth N``
and ``adapter stats report --out DIR`` (docs/statistics.md).

Thin: parse the options, run the use case ``flows.stats.statistics_table`` as the operator
(audited like any read), print the table. A bad option is one line on stderr and exit 2; a
database that cannot be reached exit 3.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click

from adapter import errors, messages, wiring
from adapter.cli._common import EXIT_USAGE, fail, open_store
from adapter.flows import context
from adapter.flows import stats as flow
from adapter.flows.context import Context
from adapter.settings import Settings
from adapter.stats import render

EXIT_ENVIRONMENT = 3
SYNTH_LIMIT = 1_000_000
T = TypeVar("T")


def _as_operator(step: Callable[[Context], T], settings: Settings | None = None) -> T:
    settings = settings or Settings.from_env()
    try:
        store = open_store(settings)  # an unusable data folder or database file is exit 3 there
    except errors.AdapterError as exc:
        fail(exc, code=EXIT_ENVIRONMENT)
    try:
        if "0004_stats" not in _applied(store.engine):
            mid = "LISN_STATS_NOT_MIGRATED"
            fail(errors.AdapterError(messages.bilingual(mid), message_id=mid), code=EXIT_ENVIRONMENT)
        return context.run(wiring.operator_service(settings, store, stages=False), wiring.OPERATOR, step)
    except errors.StoreUnavailable as exc:
        fail(exc, code=EXIT_ENVIRONMENT)
    except errors.InputRejected as exc:
        fail(exc, code=EXIT_USAGE)
    finally:
        store.engine.dispose()


def _applied(engine: object) -> set[str]:
    """The revisions the database has, with everything they build on (``0004_stats`` creates the tables)."""
    from alembic.script import ScriptDirectory

    from adapter.store import migrate

    script = ScriptDirectory.from_config(migrate.alembic_config(engine))  # type: ignore[arg-type]
    try:
        heads = migrate.current(engine)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a database that cannot be reached (the driver's own error)
        raise errors.StoreUnavailable() from exc
    found: set[str] = set()
    for head in heads:
        found.update(r.revision for r in script.iterate_revisions(head, "base"))
    return found


def query_of(by: str, month_from: str | None, month_to: str | None, threshold: int | None) -> flow.Query:
    names = tuple(n.strip() for n in by.split(",") if n.strip())
    return flow.Query(by=names, month_from=month_from, month_to=month_to, threshold=threshold)


@click.group("stats", invoke_without_command=True)
@click.option("--by", default="", help="Dimensions, comma-separated: sex,agegroup,kommun,region,provider,month,"
                                       "template,chapter,capacity,activity_hours,prognosis,debut,delivery,consent,"
                                       "status,replacement, activity:<type>, measure:<code>.")
@click.option("--from", "month_from", help="First month, YYYY-MM (inclusive).")
@click.option("--to", "month_to", help="Last month, YYYY-MM (inclusive).")
@click.option("--threshold", type=int, help="Hide counts under this (never below ADAPTER_STATISTICS_MIN_CELL).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
def stats(click_ctx: click.Context, by: str, month_from: str | None, month_to: str | None, threshold: int | None,
          fmt: str) -> None:
    """Counts of accepted certificates by dimension, small cells hidden (never a row, never a person)."""
    if click_ctx.invoked_subcommand is not None:
        return
    query = query_of(by, month_from, month_to, threshold)
    table = _as_operator(lambda ctx: flow.statistics_table(query, ctx))
    if isinstance(table, errors.AdapterError):
        fail(table)
    if fmt == "json":
        months = flow.check_query(query, 2)[1]
        click.echo(json.dumps(render.as_json(table, months=months), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        sys.stdout.write(render.as_csv(table))
    else:
        click.echo(render.as_text(table))


@stats.command("synth")
@click.argument("count", type=int)
@click.option("--seed", default=19, show_default=True, help="The same seed gives the same certificates.")
def synth(count: int, seed: int) -> None:
    """Write statistics rows for COUNT fictitious certificates (test environments only)."""
    if not 0 < count <= SYNTH_LIMIT:
        mid = "LISN_STATS_COUNT"
        fail(errors.InputRejected(messages.bilingual(mid, limit=SYNTH_LIMIT, value=count), message_id=mid))
    written = _as_operator(lambda ctx: flow.add_synthetic(count, seed, ctx))
    click.echo(f"{written} synthetic statistics rows written (seed {seed})")


@stats.command("report")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for statistik.html (created if missing).")
@click.option("--from", "month_from", help="First month, YYYY-MM (inclusive).")
@click.option("--to", "month_to", help="Last month, YYYY-MM (inclusive).")
def report(out_dir: Path, month_from: str | None, month_to: str | None) -> None:
    """Write a self-contained HTML page with charts and the tables behind them (Swedish)."""
    from adapter.stats.report import render_report  # matplotlib only for this command

    settings = Settings.from_env()
    tables = _as_operator(lambda ctx: flow.report_tables(month_from, month_to, ctx), settings)
    if isinstance(tables, errors.AdapterError):
        fail(tables)
    months = flow.check_query(flow.Query(month_from=month_from, month_to=month_to), 2)[1]
    period = f"{months[0] or 'början'} – {months[1] or 'nu'}"
    created = datetime.now(UTC).strftime("%Y-%m-%d")
    html = render_report(tables, period=period, created=created)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "statistik.html"
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        mid = "LISN_STATS_OUT"
        fail(errors.InputRejected(messages.bilingual(mid, path=str(out_dir), reason=exc.strerror or ""),
                                  message_id=mid))
    click.echo(str(target))


def register(cli: click.Group) -> None:
    cli.add_command(stats)
