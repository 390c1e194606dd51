"""``adapter worker`` and ``adapter queue``: thin commands over the outbox (issue 7, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from delivery_helpers import enqueue, row
from sqlalchemy import update
from sqlalchemy.engine import Engine

from adapter.cli import cli
from adapter.store.models import OutboxRow
from adapter.store.sql import SqlStore


@pytest.fixture()
def run(engine: Engine) -> CliRunner:
    return CliRunner(env={"ADAPTER_DATABASE_URL": engine.url.render_as_string(hide_password=False)})


def test_queue_list_counts_by_state_and_recipient(run: CliRunner, sql: SqlStore) -> None:
    key = enqueue(sql, "c1", "0180")
    enqueue(sql, "c2", "1480")
    text = run.invoke(cli, ["queue", "list"])
    assert text.exit_code == 0
    assert text.output.splitlines()[:2] == ["pending       0180  1", "pending       1480  1"]
    data = json.loads(run.invoke(cli, ["queue", "list", "--kommunkod", "0180", "--format", "json"]).output)
    assert [m["id"] for m in data["messages"]] == [key]
    assert "191212121212" not in text.output  # no patient data on the console


def test_dead_letter_then_retry(run: CliRunner, sql: SqlStore) -> None:
    key = enqueue(sql, "c1")
    dead = run.invoke(cli, ["queue", "dead-letter", key, "--reason", "municipality asked"])
    assert (dead.exit_code, dead.output.strip()) == (0, f"{key} dead")
    assert row(sql, key).last_error == "operator: municipality asked"
    again = run.invoke(cli, ["queue", "retry", key])
    assert (again.exit_code, again.output.strip()) == (0, f"{key} pending")
    assert row(sql, key).attempts == 0


def test_unknown_message_is_an_outcome_not_a_traceback(run: CliRunner) -> None:
    result = run.invoke(cli, ["queue", "retry", "no-such-message"])
    assert result.exit_code == 1
    assert "[LISN_DELIVERY_MESSAGE_NOT_FOUND]" in result.output and "Traceback" not in result.output


def test_retry_of_a_delivered_message_changes_nothing(run: CliRunner, sql: SqlStore) -> None:
    key = enqueue(sql, "c1")
    with sql.session() as session:
        session.execute(update(OutboxRow).values(state="delivered"))
    result = run.invoke(cli, ["queue", "retry", key])
    assert (result.exit_code, result.output.strip()) == (1, f"{key} delivered")


def test_worker_once_publishes_to_a_pull_recipient(run: CliRunner, sql: SqlStore,
                                                   tmp_path: Path) -> None:
    key = enqueue(sql, "c1", "1280")
    recipients = tmp_path / "recipients.json"
    recipients.write_text(json.dumps([{"kommunkod": "1280", "mode": "pull"}]), encoding="utf-8")
    result = run.invoke(cli, ["worker", "--once", "--recipients", str(recipients), "--verbose"])
    assert result.exit_code == 0, result.output
    assert "claimed=1 delivered=0 available=1" in result.output
    assert row(sql, key).state == "available"


def test_worker_refuses_an_unreadable_recipients_file(run: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "recipients.json"
    bad.write_text("[{", encoding="utf-8")
    result = run.invoke(cli, ["worker", "--once", "--recipients", str(bad)])
    assert result.exit_code == 2
    assert "[LISN_DELIVERY_RECIPIENTS_FILE]" in result.output


def test_queue_list_says_what_waits_and_why(run: CliRunner, sql: SqlStore) -> None:
    from dataclasses import replace as with_

    from delivery_helpers import RECIPIENTS, START

    from adapter.delivery import Outcome, Receipt, Relay
    from adapter.flows.relay import RelayStore, static_recipients
    from adapter.settings import DeliverySettings
    from adapter.testing import FixedClock, MockTransport

    waiting, other = enqueue(sql, "c1", "0180"), enqueue(sql, "c2", "0180")
    clock = FixedClock(START)
    settings = with_(DeliverySettings(), breaker_failures=1, breaker_cooldown=600.0, per_recipient=1)
    down = MockTransport(lambda env: Receipt(Outcome.RETRY, 503, "HTTP 503 without a readable receipt"))
    relay = Relay(RelayStore(sql, recipients=static_recipients(RECIPIENTS)), down, settings=settings,
                  owner="w1", clock=clock, rand=lambda: 0.5, batch=1)
    assert relay.run_once().retried == 1  # one failure opens the circuit: the other message waits too
    lines = {line.split()[0]: line for line in run.invoke(cli, ["queue", "list"]).output.splitlines()
             if line.startswith((waiting, other))}
    for key in (waiting, other):
        assert "pending" in lines[key]
        assert "next attempt 2026-11-23T09:30:00.000Z" in lines[key]
        assert "last error: circuit open until 2026-11-23T09:30:00+00:00 after 1 consecutive failures " \
               "(last: HTTP 503 without a readable receipt)" in lines[key]
    assert "attempts=1" in lines[waiting] and "attempts=0" in lines[other]
    data = json.loads(run.invoke(cli, ["queue", "list", "--format", "json"]).output)
    assert {m["nextAttemptAt"] for m in data["messages"]} == {"2026-11-23T09:30:00.000Z"}


def test_worker_refuses_a_lease_shorter_than_the_push_deadline(engine: Engine) -> None:
    env = {"ADAPTER_DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "ADAPTER_DELIVERY_LEASE_SECONDS": "30", "ADAPTER_DELIVERY_PUSH_DEADLINE": "29.5"}
    result = CliRunner(env=env).invoke(cli, ["worker", "--once"])
    assert result.exit_code == 2, result.output
    assert "[LISN_DELIVERY_LEASE_TOO_SHORT]" in result.output and "Traceback" not in result.output
    env["ADAPTER_DELIVERY_PUSH_DEADLINE"] = "28.5"
    assert CliRunner(env=env).invoke(cli, ["worker", "--once"]).exit_code == 0
