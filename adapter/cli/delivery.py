"""``adapter worker``, ``adapter queue list|show|retry|dead-letter`` and ``adapter reprocess``.

Thin: each command opens the configured database (``ADAPTER_DATABASE_URL`` or SQLite under
``ADAPTER_DATA_DIR``) and calls ``adapter.store.outbox`` or the relay.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import click

from adapter import errors, messages
from adapter.cli._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, echo_json, fail
from adapter.delivery.http import HttpTransport
from adapter.delivery.loop import run_loop
from adapter.delivery.model import Recipient
from adapter.delivery.relay import Relay, RunStats
from adapter.settings import Settings
from adapter.fhir.parse import parse_json
from adapter.store import audit, outbox
from adapter.store.db import make_engine, session_factory, transaction


def build_relay(settings: Settings, *, recipients_file: Path | None = None, batch: int = 10) -> Relay:
    """The production relay: SQL store on the configured database, HTTPS transport."""
    engine = make_engine(settings.database.effective_url())
    lookup = (outbox.static_recipients(read_recipients(recipients_file)) if recipients_file
              else outbox.registry_recipients(engine))
    store = outbox.SqlOutboxStore(engine, recipients=lookup)
    transport = HttpTransport(connect_timeout=settings.delivery.connect_timeout,
                              read_timeout=settings.delivery.read_timeout)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return Relay(store, transport, settings=settings.delivery, owner=owner, batch=batch)


def read_recipients(path: Path) -> list[Recipient]:
    """A JSON list of recipients (``kommunkod``, ``mode``, ``endpoint``, ``client_cert``, ...)."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [Recipient(**item) for item in items]
    except (OSError, ValueError, TypeError) as exc:
        mid = "LISN_DELIVERY_RECIPIENTS_FILE"
        raise errors.InputRejected(messages.bilingual(mid, path=str(path), detail=type(exc).__name__),
                                   message_id=mid) from None


def _stats_line(stats: RunStats) -> str:
    return (f"claimed={stats.claimed} delivered={stats.delivered} available={stats.available} "
            f"retried={stats.retried} dead={stats.dead} fenced={stats.fenced} skipped={stats.skipped}")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one pass and exit (tests, cron).")
@click.option("--batch", default=10, show_default=True, help="Messages claimed per pass.")
@click.option("--poll", "poll", default=1.0, show_default=True, help="Seconds to wait when the queue is idle.")
@click.option("--recipients", "recipients_file", type=click.Path(path_type=Path),
              help="Recipients as JSON instead of the registry (testing, static set-ups).")
@click.option("--verbose", is_flag=True, help="Print counts after every pass that did something.")
def worker(once: bool, batch: int, poll: float, recipients_file: Path | None, verbose: bool) -> None:
    """Run the outbox relay until SIGTERM or SIGINT (finishes the message in hand, then stops)."""
    try:
        relay = build_relay(Settings.from_env(), recipients_file=recipients_file, batch=batch)
    except errors.AdapterError as exc:
        fail(exc)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def report(stats: RunStats) -> None:
        if verbose and stats.claimed:
            click.echo(_stats_line(stats), err=True)
    run_loop(relay, stop=stop, poll_interval=poll, max_passes=1 if once else None, on_pass=report)
    sys.exit(EXIT_OK)


def _factory() -> Any:
    return session_factory(make_engine(Settings.from_env().database.effective_url()))


@click.group("queue")
def queue() -> None:
    """Inspect and steer the delivery outbox."""


@queue.command("list")
@click.option("--state", help="pending, available, delivered, acknowledged, withheld, withdrawn, dead")
@click.option("--kommunkod", help="Only this recipient.")
@click.option("--limit", default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def queue_list(state: str | None, kommunkod: str | None, limit: int, fmt: str) -> None:
    """Counts by state and recipient, then the messages (no patient data is shown)."""
    with transaction(_factory()) as session:
        counts = outbox.queue_counts(session)
        rows = outbox.list_messages(session, state=state, kommunkod=kommunkod, limit=limit)
    if fmt == "json":
        echo_json({"counts": [{"state": s, "kommunkod": k, "count": n} for s, k, n in counts],
                   "messages": rows})
        return
    for s, k, n in counts:
        click.echo(f"{s:<13} {k}  {n}")
    for r in rows:
        click.echo(f"{r['id']}  {r['kommunkod']}  {r['kind']:<11} {r['state']:<12} "
                   f"attempts={r['attempts']}  {r['lastError'] or ''}")


@queue.command("show")
@click.argument("message_id")
def queue_show(message_id: str) -> None:
    """One message's attempts and receipts."""
    with transaction(_factory()) as session:
        echo_json(outbox.receipts_of(session, message_id))


@queue.command("retry")
@click.argument("message_id")
def queue_retry(message_id: str) -> None:
    """Put a dead-lettered message back in the queue with a fresh attempt budget."""
    with transaction(_factory()) as session:
        state = outbox.retry(session, message_id)
    _answer(message_id, state, "pending")


@queue.command("dead-letter")
@click.argument("message_id")
@click.option("--reason", required=True, help="Why the operator stops it (kept as its last error).")
def queue_dead_letter(message_id: str, reason: str) -> None:
    """Stop trying a message."""
    with transaction(_factory()) as session:
        state = outbox.dead_letter(session, message_id, reason=reason)
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
    from adapter.api.stages import default_stages
    from adapter.fhir.registry import default_registry
    from adapter.store.flow import KIND_BY_EVENT, XML_STATUS_BY_KIND
    from adapter.store.models import Submission

    settings = Settings.from_env()
    registry = default_registry()
    stages = default_stages(settings, registry)
    with transaction(_factory()) as session:
        row = session.get(Submission, submission_id)
        if row is None or not row.raw:
            mid = "LISN_DELIVERY_REPROCESS_NO_RAW"
            fail(errors.NotFound(messages.bilingual(mid, id=submission_id), message_id=mid), code=EXIT_INVALID)
            return
        bundle = (parse_json(row.raw, settings.limits) if row.source_format == "fhir-json"
                  else stages.map_export(row.raw, row.source_format, {}))
        oo = stages.validate(bundle, registry)
        if errors.has_errors(oo):
            fail(errors.ValidationFailed(outcome=oo), code=EXIT_INVALID)
        kind = KIND_BY_EVENT.get(row.event or "certificate", "certificate")
        document = stages.sign(stages.render(bundle, registry=registry, status=XML_STATUS_BY_KIND[kind],
                                             replaces=row.replaces))
        keys = [] if dry_run else outbox.requeue_reprocessed(session, submission_id=submission_id,
                                                              documents={kind: document})
        if keys:
            audit.record(session, actor="admin-cli", action="reprocess", outcome="requeued",
                         patient=row.patient_value, certificate=row.certificate_id)
    echo_json({"submission": submission_id, "valid": True, "requeued": keys, "dryRun": dry_run})


def register(cli: click.Group) -> None:
    cli.add_command(worker)
    cli.add_command(queue)
    cli.add_command(reprocess)


__all__ = ["EXIT_USAGE", "build_relay", "register"]
