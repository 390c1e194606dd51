"""``adapter worker``, ``adapter queue list|show|retry|dead-letter`` and ``adapter reprocess``.

Thin: each command reads the settings, gets the store and the relay from ``adapter.wiring`` and
calls one use case of ``adapter.flows.operate`` (or runs the relay), then prints the answer.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from adapter import errors, messages, wiring
from adapter.cli._common import (
    EXIT_ENVIRONMENT,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    echo_json,
    exit_code_for,
    fail,
    open_migrated_store,
)
from adapter.delivery.loop import run_loop
from adapter.delivery.relay import RunStats
from adapter.flows import context, operate
from adapter.flows.context import Context
from adapter.settings import Settings

T = TypeVar("T")


def _operate(step: Callable[[Context], T], *, stages: bool = False) -> T:
    """Run one operator use case on the configured database (with the stages only when it renders)."""
    settings = Settings.from_env()
    store = open_migrated_store(settings)
    try:
        return context.run(wiring.operator_service(settings, store, stages=stages), wiring.OPERATOR, step)
    finally:
        store.engine.dispose()


def _stats_line(stats: RunStats) -> str:
    return (f"claimed={stats.claimed} delivered={stats.delivered} available={stats.available} "
            f"retried={stats.retried} dead={stats.dead} fenced={stats.fenced} skipped={stats.skipped}")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one pass and exit (tests, cron).")
@click.option("--batch", default=10, show_default=True, help="Messages claimed per pass.")
@click.option("--poll", "poll", default=1.0, show_default=True, help="Seconds to wait when the queue is idle.")
@click.option("--recipients", "recipients_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Recipients as JSON instead of the registry (testing, static set-ups).")
@click.option("--verbose", is_flag=True, help="Print counts after every pass that did something.")
@click.option("--quiet", is_flag=True, help="Log only warnings and errors (not one line per delivery).")
def worker(once: bool, batch: int, poll: float, recipients_file: Path | None, verbose: bool, quiet: bool) -> None:
    """Run the outbox relay until SIGTERM or SIGINT (finishes the message in hand, then stops).

    Logs one line per message handled (delivered, made available to a pull municipality, retried,
    dead-lettered: message id, kommunkod, attempt; never patient data) on stderr at info level.
    With --once it runs one pass and exits 0, or 3 when the pass cannot run (the database).
    """
    _log_to_stderr(logging.WARNING if quiet else logging.INFO)
    settings = Settings.from_env()
    try:
        relay = wiring.build_relay(settings, open_migrated_store(settings), recipients_file=recipients_file,
                                   batch=batch)
    except errors.AdapterError as exc:
        fail(exc)
    if once:  # a pass that fails is the command's failure (exit 3 from the top-level handler), not a log line
        _report(relay.run_once(), verbose)
        sys.exit(EXIT_OK)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    run_loop(relay, stop=stop, poll_interval=poll, on_pass=lambda stats: _report(stats, verbose))
    sys.exit(EXIT_OK)


def _report(stats: RunStats, verbose: bool) -> None:
    if verbose and stats.claimed:
        click.echo(_stats_line(stats), err=True)


def _log_to_stderr(level: int) -> None:
    """The worker's log on stderr, one line per record (nothing is configured when a host app did)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    logging.getLogger("adapter").setLevel(level)


@click.group("queue")
def queue() -> None:
    """Inspect and steer the delivery outbox."""


@queue.command("list")
@click.option("--state", help="pending, available, delivered, acknowledged, withheld, uncertain, withdrawn, dead")
@click.option("--kommunkod", help="Only this recipient.")
@click.option("--limit", default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def queue_list(state: str | None, kommunkod: str | None, limit: int, fmt: str) -> None:
    """Counts by state and recipient, then the messages (no patient data is shown)."""
    found = _operate(lambda ctx: operate.queue_list(ctx, state=state, kommunkod=kommunkod, limit=limit))
    if fmt == "json":
        echo_json(found)
        return
    for c in found["counts"]:
        click.echo(f"{c['state']:<13} {c['kommunkod']}  {c['count']}")
    for r in found["messages"]:
        # What waits and why: the next attempt of a pending message, then its last error (which
        # says "circuit open until ..." while its municipality's circuit is open).
        waits = f"  next attempt {r['nextAttemptAt']}" if r["state"] == "pending" else ""
        why = f"  last error: {r['lastError']}" if r["lastError"] else ""
        click.echo(f"{r['id']}  {r['kommunkod']}  {r['kind']:<11} {r['state']:<12} "
                   f"attempts={r['attempts']}{waits}{why}")


@queue.command("show")
@click.argument("message_id")
def queue_show(message_id: str) -> None:
    """One message's attempts and receipts."""
    echo_json(_operate(lambda ctx: operate.queue_show(message_id, ctx)))


@queue.command("retry")
@click.argument("message_id")
def queue_retry(message_id: str) -> None:
    """Put a dead-lettered message back in the queue with a fresh attempt budget."""
    state = _operate(lambda ctx: operate.retry(message_id, ctx))
    if isinstance(state, errors.AdapterError):  # it may not leave now (consent, withdrawal)
        fail(state, code=EXIT_INVALID)
    _answer(message_id, state, "pending")


@queue.command("dead-letter")
@click.argument("message_id")
@click.option("--reason", required=True, help="Why the operator stops it (kept as its last error).")
def queue_dead_letter(message_id: str, reason: str) -> None:
    """Stop trying a message."""
    state = _operate(lambda ctx: operate.dead_letter(message_id, reason, ctx))
    _answer(message_id, state, "dead")


def _answer(message_id: str, state: str | None, wanted: str) -> None:
    if state is None:
        mid = "LISN_DELIVERY_MESSAGE_NOT_FOUND"
        fail(errors.NotFound(messages.bilingual(mid, id=message_id), message_id=mid), code=EXIT_INVALID)
    click.echo(f"{message_id} {state}")
    sys.exit(EXIT_OK if state == wanted else EXIT_INVALID)


@click.command("reprocess")
@click.argument("submission_id")
@click.option("--dry-run", is_flag=True, help="Derive and validate only; change nothing.")
def reprocess(submission_id: str, dry_run: bool) -> None:
    """Derive a submission's documents again from its raw input (after a mapping or template fix)
    and re-queue its dead-lettered deliveries with them, under the same submission."""
    try:
        result = _operate(lambda ctx: operate.reprocess(submission_id, ctx, dry_run=dry_run), stages=True)
    except errors.AdapterError as exc:  # unreadable raw input (1); a configuration that cannot run (3)
        fail(exc, code=EXIT_ENVIRONMENT if exit_code_for(exc) == EXIT_ENVIRONMENT else EXIT_INVALID)
    if isinstance(result, errors.AdapterError):
        fail(result, code=EXIT_INVALID)
    echo_json(result)


def register(cli: click.Group) -> None:
    cli.add_command(worker)
    cli.add_command(queue)
    cli.add_command(reprocess)


__all__ = ["EXIT_USAGE", "register"]
