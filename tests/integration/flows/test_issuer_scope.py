"""Issue 13: a certificate is known by its issuing care unit and its id together.

Another tenant's certificate under the same id must be answered exactly as an id never seen: not a
409 that tells it exists, not a 403 on its withdrawal or replacement. Each case compares the answer
for another care unit's id with the answer for a fresh id, and checks that the first care unit's
certificate, its deliveries and its statistics are untouched. On every store (memory, SQLite,
PostgreSQL); the last test removes the scope and shows the answers differ again.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flow_helpers import World, example, raw, status, task_of, world

from adapter import errors
from adapter.flows import release
from adapter.flows.ports import Match
from adapter.flows.submit import submit

UNIT_A, UNIT_B = "SE2321000016-15CQ", "SE2321000016-9ZZZ"
CERT = "urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d"  # the example's certificate id (care unit A's)
FRESH = "urn:uuid:0b7e4c2a-9d1f-4e3b-8a5c-6f2d1e0c9b8a"
REPLACEMENT = "urn:uuid:f866fae7-2078-5f70-b65f-04aaf3b35588"  # the example replacement's own id
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def as_unit(bundle: dict[str, Any], hsa: str, *, cert: str | None = None) -> dict[str, Any]:
    """The bundle issued by care unit ``hsa`` (its Organization and the Consent's), under ``cert``."""
    text = json.dumps(bundle).replace(UNIT_A, hsa)
    if cert is not None:
        text = text.replace(CERT, cert)
    return dict(json.loads(text))


def shape(answer: Any) -> str:
    """An answer with its generated ids and the certificate id blanked: what a caller can compare."""
    if isinstance(answer, errors.AdapterError):
        return f"{type(answer).__name__} {errors.status_for(answer)} {answer.message_id}"
    return _UUID.sub("<id>", json.dumps(answer, sort_keys=True))


def outbox(w: World, **match: Any) -> list[tuple[str, str, str, str | None]]:
    with w.tx() as tx:
        return [(m.kind, m.kommunkod, m.state, m.care_unit) for m in tx.messages(Match(**match))]


def test_another_care_units_id_is_answered_as_a_fresh_id(w: World) -> None:
    first = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    before = outbox(w)
    taken = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example(), UNIT_B)), ctx))
    fresh = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example(), UNIT_B, cert=FRESH)), ctx))
    assert not isinstance(taken, errors.AdapterError), taken  # not 409: the id is B's own certificate
    assert shape(taken) == shape(fresh)
    assert task_of(first)["id"] not in json.dumps(taken)
    assert status(task_of(taken)) == status(task_of(fresh))
    # A's certificate and its delivery are untouched; B's is a certificate of its own.
    assert [m for m in outbox(w) if m[3] == UNIT_A] == before
    with w.tx() as tx:
        assert [r.care_unit_hsa for r in tx.submissions_of(CERT)] == [UNIT_A, UNIT_B]
        keys = {m.key for m in tx.messages(Match(certificate_id=CERT))}
    assert len(keys) == 2


def test_each_care_unit_replays_and_conflicts_on_its_own_certificate_only(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    theirs = as_unit(example(), UNIT_B)
    first = w.run("other-ehr", lambda ctx: submit(raw(theirs), ctx))
    again = w.run("other-ehr", lambda ctx: submit(raw(theirs), ctx))
    assert again == first  # B's own repeat: its own first answer
    changed = as_unit(example(), UNIT_B)
    changed["entry"][0]["resource"]["id"] = "changed-header"
    conflict = w.run("other-ehr", lambda ctx: submit(raw(changed), ctx))
    assert isinstance(conflict, errors.Conflict) and conflict.message_id == "LISN_SUBMISSION_CONFLICT"
    assert task_of(first)["id"] in str(conflict)  # B's own Task, never A's


def test_a_withdrawal_of_another_care_units_certificate_is_answered_as_for_none(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    before = outbox(w)
    foreign = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example("withdrawal"), UNIT_B)), ctx))
    never = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example("withdrawal"), UNIT_B, cert=FRESH)), ctx))
    assert isinstance(foreign, errors.RetryLater), foreign
    assert shape(foreign) == shape(never) == "RetryLater 503 LISN_WITHDRAWAL_BEFORE_CERTIFICATE"
    assert outbox(w) == before  # A's certificate is neither withdrawn nor its delivery cancelled
    with w.tx() as tx:
        [row] = tx.submissions_of(CERT, UNIT_A)
        assert row.status != "withdrawn"


def test_a_replacement_naming_another_care_units_certificate_touches_only_its_own(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))  # A's certificate, queued to 0180
    before = outbox(w)
    foreign = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example("replacement"), UNIT_B)), ctx))
    unknown = json.loads(json.dumps(as_unit(example("replacement"), UNIT_B, cert=FRESH))  # replaces an id never seen
                         .replace(REPLACEMENT, "urn:uuid:5d0c6b1e-2f3a-4c4d-9e8f-7a6b5c4d3e2f"))
    never = w.run("other-ehr", lambda ctx: submit(raw(unknown), ctx))
    assert not isinstance(foreign, errors.AdapterError), foreign  # not 403: no certificate of B's is named
    assert status(task_of(foreign)) == status(task_of(never))
    # A's message is as it was; B's replacement went to its own recipient only, as B's.
    assert [m for m in outbox(w) if m[3] == UNIT_A] == before
    assert {m[3] for m in outbox(w, kinds=("replacement",))} == {UNIT_B}
    with w.tx() as tx:
        assert release.recipients_of(CERT, UNIT_A, _Ctx(tx)) == ["0180"]


def test_withdrawing_ones_own_certificate_leaves_the_same_id_of_another_care_unit(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    w.run("other-ehr", lambda ctx: submit(raw(as_unit(example(), UNIT_B)), ctx))
    done = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example("withdrawal"), UNIT_B)), ctx))
    assert not isinstance(done, errors.AdapterError), done
    states = {(m[3], m[0]): m[2] for m in outbox(w)}
    assert states[(UNIT_B, "certificate")] == "withdrawn"  # B's, never sent: cancelled
    assert states[(UNIT_A, "certificate")] == "pending"  # A's goes on
    assert (UNIT_A, "withdrawal") not in states


def test_negative_control_without_the_scope_the_answer_tells(monkeypatch: pytest.MonkeyPatch) -> None:
    """The protection removed (lookups by id alone, as before issue 13): the answers differ again."""
    from adapter.testing import MemoryStore, MemoryTx

    w = world(MemoryStore())
    unscoped = MemoryTx.submissions_of
    monkeypatch.setattr(MemoryTx, "submissions_of", lambda self, cert, care_unit=None: unscoped(self, cert))
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    taken = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example(), UNIT_B)), ctx))
    fresh = w.run("other-ehr", lambda ctx: submit(raw(as_unit(example(), UNIT_B, cert=FRESH)), ctx))
    assert shape(taken) != shape(fresh)


class _Ctx:
    """The one attribute of a Context that :func:`release.recipients_of` reads."""

    def __init__(self, tx: Any) -> None:
        self.tx = tx
