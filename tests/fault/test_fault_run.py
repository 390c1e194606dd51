"""The short fault run (``python -m bench.fault --quick``) on SQLite and PostgreSQL.

Workers are SIGKILLed during deliveries, the receiver fails and stalls at random (some failures
after it stored the document) and is itself SIGKILLed and restarted, a second receiver rejects
every signature, a third municipality answers one byte at a time (a tarpit), PostgreSQL connections
are cut with ``pg_terminate_backend``, certificates are resubmitted unchanged and changed, and a
consent is revoked while deliveries are in flight. The run must reconcile.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.fault import run

PLAN = run.Plan.quick()


def _check(result: dict[str, Any], *, cuts_expected: bool) -> None:
    rec = result["reconciliation"]
    assert rec["ok"], "reconciliation failed: " + ", ".join(f"{k}={v}" for k, v in rec.items() if v)
    assert rec["accepted"] == PLAN.deliver + PLAN.revoke + PLAN.reject + PLAN.slow
    assert rec["accepted"] == (rec["delivered"] + rec["withheld"] + rec["uncertain"] + rec["dead_lettered"]
                               + rec["withdrawn"] + rec["waiting_for_slow_recipient"])
    # The slow municipality's certificates still wait (retried, not lost, not dead-lettered) ...
    assert rec["waiting_for_slow_recipient"] == PLAN.slow
    assert result["slow_municipality"]["attempts"] >= 1
    # ... while every certificate to the healthy one, whose receiver was killed and restarted, arrived.
    assert result["receiver_kills"] == PLAN.receiver_kills
    healthy = result["healthy"]
    assert healthy["queued"] >= 1 and healthy["delivered"] == healthy["queued"], healthy
    assert rec["dead_lettered"] == PLAN.reject  # the rejecting receiver: terminal, never retried forever
    assert 1 <= rec["withheld"] + rec["uncertain"] <= PLAN.revoke  # the revocation stopped what had not yet gone
    assert rec["withheld_after_unconfirmed_send"] == []  # what the receiver may hold is never called withheld
    assert result["revocation_statuses"] and set(result["revocation_statuses"]) == {200}
    assert result["worker_kills"] == PLAN.kills
    if cuts_expected:
        assert len(result["db_connection_cuts"]) == PLAN.db_cuts
    for part in ("submissions_before_revocation", "submissions_while_paused", "submissions_after_revocation"):
        dup = result[part]["duplicates"]
        assert dup["replayed_same_status"] == dup["sent"]
        assert dup["conflict_409"] == dup["conflicts_sent"]
        codes = result[part]["status_codes"]
        # A request whose database connection is cut fails with a retryable 503 (never a 500; see
        # docs/reliability.md); the sender's retry must then be accepted. Nothing else is acceptable.
        assert all(c.endswith((":200", ":503")) for c in codes), codes
        failed = sum(n for c, n in codes.items() if not c.endswith(":200"))
        retried_ok = sum(n for c, n in codes.items() if ":retry:" in c and c.endswith(":200"))
        assert failed == retried_ok, codes
    chaos = result["chaos"]
    assert chaos.get("fail_before", 0) + chaos.get("fail_after", 0) + chaos.get("stall", 0) > 0, chaos


@pytest.mark.slow
def test_fault_run_sqlite() -> None:
    _check(run.run(PLAN, database="sqlite"), cuts_expected=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_fault_run_postgresql(pg_url: str) -> None:
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    _check(run.run(PLAN, database="postgresql", postgres_admin_url=admin), cuts_expected=True)
