"""The pipeline without Flask: submit and consent steps on a throw-away SQLite file, a fixed clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapter import errors, pipeline
from adapter.fhir.registry import default_registry
from adapter.outbound import render_municipal_xml
from adapter.settings import Settings
from adapter.store import migrate, outbox  # noqa: F401 - outbox tables
from adapter.store.clients import add_client
from adapter.store.db import make_engine, session_factory, transaction
from adapter.store.flow import Context, Stages
from adapter.store.models import ConsentDecisionRecord, Submission
from adapter.store.recipients import add_recipient
from adapter.testing import FixedClock
from adapter.validation import validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = json.loads((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_text("utf-8"))
CONSENT = ROOT / "tests" / "integration" / "service" / "data" / "consent-0180.json"
STAGES = Stages(validate=validate, map_export=lambda raw, fmt, inputs: {}, render=render_municipal_xml,
                sign=lambda xml: xml)  # signing is the signing stage's business; here the bytes pass through
REGISTRY = default_registry()


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        add_recipient(s, kommunkod="0180", name="Stockholm")
        sessions.clients = {name: add_client(s, name=name, role="sender", pepper=b"p", care_units=(unit,))[0]
                            for name, unit in (("ehr", "SE2321000016-15CQ"), ("other", "SE2321000016-9ZZZ"))}
    yield sessions
    engine.dispose()


def _run(sessions: Any, clock: FixedClock, step: Any, client: str = "ehr") -> Any:
    with transaction(sessions) as session:
        ctx = Context(session=session, settings=Settings(), registry=REGISTRY, client=sessions.clients[client],
                      stages=STAGES,
                      clock=clock)
        return step(ctx)


def _decisions(session: Session) -> list[str]:
    return list(session.execute(select(ConsentDecisionRecord.reason_id).order_by(ConsentDecisionRecord.id)).scalars())


def test_consent_that_starts_tomorrow_waits(factory: Any) -> None:
    clock = FixedClock()
    bundle = dict(EXAMPLE, entry=[e for e in EXAMPLE["entry"] if e["resource"]["resourceType"] != "Consent"])
    oo, receipt = _run(factory, clock, lambda ctx: pipeline.submit(json.dumps(bundle).encode(), ctx))
    assert not errors.has_errors(oo) and receipt is not None
    future = json.loads(CONSENT.read_text("utf-8"))
    future["provision"]["period"]["start"] = (clock.now() + timedelta(days=1)).date().isoformat()
    oo, stored = _run(factory, clock, lambda ctx: pipeline.register_consent(json.dumps(future).encode(), ctx))
    assert stored is not None and stored["id"]
    with transaction(factory) as session:
        assert _decisions(session) == ["LISN_CONSENT_NONE", "LISN_CONSENT_NOT_YET_VALID"]
        assert session.execute(select(Submission.status)).scalar_one() == "awaiting-consent"


def test_refusal_is_returned_not_raised(factory: Any) -> None:
    oo, resource = _run(factory, FixedClock(), lambda ctx: pipeline.submit(json.dumps(EXAMPLE).encode(), ctx),
                        "other")
    assert resource is None and errors.message_id_of(oo["issue"][0]) == "LISN_SENDER_CARE_UNIT"
    assert errors.status_for(oo) == 403


def test_unreadable_input_raises(factory: Any) -> None:
    with pytest.raises(errors.InputRejected):
        _run(factory, FixedClock(), lambda ctx: pipeline.submit(b"[1, 2", ctx))
