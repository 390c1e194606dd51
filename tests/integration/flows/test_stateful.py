"""Issue 12: a stateful property test over the real use cases and store (memory, SQLite, PostgreSQL).

Hypothesis drives random sequences of: submit, replace, withdraw, consent, a foreign care unit's
consent, revoke, re-post of a revoked consent, retry, reprocess, dead-letter, pull list, fetch and
acknowledge, a relay pass whose receiver accepts, fails, rejects or stores and loses its receipt,
and time passing. An independent model (which consents are active, which certificates were
withdrawn, what the municipality holds) checks after every step:

* nothing is sent, fetched or acknowledged while no consent in scope permits it for that
  recipient (withdrawals aside), nor a withdrawn certificate;
* nothing the outbox recorded delivered is sent again;
* nothing is lost: a certificate whose consent permits it has a message that is not held;
* the state tells the truth: a message the municipality may hold is never ``withheld``, and a
  Task that says ``withheld`` has no message the municipality may hold;
* the municipality is told: a certificate it holds that a revocation left ``uncertain`` has a
  consent-withdrawn notice to it (queued, sent or received; a notice may always leave).

The validator is a stub here (every input valid: validation has its own tests); everything else
is the service: the use cases, the relay, the store. ``test_it_finds_defect_1`` removes the
leave-time check from retry and from the relay and shows that the machine finds the path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flow_helpers import World, consent, example, raw, with_kommunkod, world
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from adapter import errors
from adapter.delivery.model import Envelope, Outcome, Receipt
from adapter.delivery.relay import Relay
from adapter.fhir.submission import REPLACES_URL
from adapter.flows import consents, operate, pull, reads, release
from adapter.flows.context import Stages
from adapter.flows.ports import HELD, UNCERTAIN, WITHHELD, Match, Store
from adapter.flows.relay import RelayStore
from adapter.flows.submit import submit
from adapter.outbound import render_municipal_xml
from adapter.testing import MemoryStore, MockTransport

PATIENT = ("http://electronichealth.se/identifier/personnummer", "191212121212")
KOMMUNER = ("0180", "1480")  # 0180 push (may pull too), 1480 pull
PULLERS = {"0180": "stockholm", "1480": "goteborg"}
CERTS = [f"urn:uuid:00000000-0000-4000-8000-{n:012d}" for n in range(1, 7)]
MODES = ("accept", "fail", "lost", "reject")
EXAMPLES = int(os.environ.get("ADAPTER_STATEFUL_EXAMPLES", "25"))
STEPS = 30


def _valid(resource: Any, registry: Any) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": []}


STAGES = Stages(validate=_valid, map_export=lambda raw, fmt, inputs: {}, render=render_municipal_xml,
                sign=lambda xml: xml)


def _qr(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = bundle["entry"][1]["resource"]
    return found


def certificate(cid: str, kommunkod: str) -> dict[str, Any]:
    bundle = with_kommunkod(example(consent=False), kommunkod)
    _qr(bundle)["identifier"]["value"] = cid
    return bundle


def replacement(cid: str, replaces: str, kommunkod: str) -> dict[str, Any]:
    bundle = with_kommunkod(example("replacement", consent=False), kommunkod)
    _qr(bundle)["identifier"]["value"] = cid
    for ext in _qr(bundle)["extension"]:
        if ext["url"] == REPLACES_URL:
            ext["valueIdentifier"]["value"] = replaces
    return bundle


def withdrawal(cid: str, kommunkod: str) -> dict[str, Any]:
    bundle = with_kommunkod(example("withdrawal", consent=False), kommunkod)
    _qr(bundle)["identifier"]["value"] = cid
    return bundle


def consent_for(kommunkod: str, n: int, unit: str = "SE2321000016-15CQ") -> dict[str, Any]:
    found = consent(end="2030-12-31")
    found["provision"]["actor"][0]["reference"]["identifier"]["value"] = kommunkod
    found["organization"][0]["identifier"]["value"] = unit
    found["dateTime"] = f"2026-11-{n % 20 + 1:02d}T{n // 20 % 24:02d}:00:00+01:00"  # a new Consent each time
    return found


class Delivery(RuleBasedStateMachine):
    """The service and a model of what may be disclosed; ``new_store`` gives an empty store per run."""

    new_store: Callable[[], Store] = MemoryStore

    def __init__(self) -> None:
        super().__init__()
        self.w: World = world(self.new_store())
        self.w.service.stages = STAGES
        self.mode = "accept"
        self.transport = MockTransport(self._receive)
        self.relay = Relay(RelayStore(self.w.store, clock=self.w.clock), self.transport,
                           settings=self.w.service.settings.delivery, owner="w1", clock=self.w.clock,
                           rand=lambda: 0.0)
        # The model
        self.active: dict[str, list[str]] = {k: [] for k in KOMMUNER}  # kommunkod -> active consent ids (in scope)
        self.posted: dict[str, dict[str, Any]] = {}  # consent id -> the Consent as posted
        self.revoked: list[dict[str, Any]] = []  # revoked consents as posted (to post again)
        self.certs: dict[str, tuple[str, str]] = {}  # certificate id -> (kind, own kommunkod)
        self.withdrawn: set[str] = set()
        self.holds: set[str] = set()  # keys the municipalities may hold (received, or fetched)
        self.delivered: set[str] = set()  # keys the outbox recorded delivered or acknowledged
        self.violations: list[str] = []
        self.n = 0

    # -- the model's rule: may this go to kommunkod now? --------------------------------------------
    def permitted(self, kind: str, certificate_id: str, kommunkod: str) -> bool:
        if kind in ("withdrawal", "consent-revoked"):
            return True  # a withdrawal, and a consent-withdrawn notice, disclose nothing new
        return bool(self.active[kommunkod]) and certificate_id not in self.withdrawn

    def _receive(self, env: Envelope) -> Receipt:
        """The push receiver of 0180: stores what it gets (unless told to fail or reject)."""
        if not self.permitted(env.kind, env.certificate_id, "0180"):
            self.violations.append(f"sent without consent: {env.kind} {env.certificate_id}")
        if env.idempotency_key in self.delivered:
            self.violations.append(f"sent again after delivery: {env.idempotency_key}")
        if self.mode in ("accept", "lost"):
            self.holds.add(env.idempotency_key)
        if self.mode == "accept":
            return Receipt(Outcome.ACCEPTED, 201, body='{"status": "accepted"}')
        if self.mode == "reject":
            return Receipt(Outcome.REJECTED, 422, "rejected: schema")
        return Receipt(Outcome.RETRY, None, "read timeout")  # fail, or stored and the receipt lost

    def messages(self, **match: Any) -> list[Any]:
        with self.w.tx() as tx:
            return list(tx.messages(Match(**match)))

    # -- rules (few, each with a choice of action: a short random walk reaches deep sequences) ------
    @initialize()
    def a_consented_certificate(self) -> None:
        self.give_consent("0180")
        self.submit_certificate(0, "0180")

    @rule(event=st.sampled_from(("certificate", "replacement", "withdrawal")), slot=st.integers(0, len(CERTS) - 1),
          other=st.integers(0, len(CERTS) - 1), kommunkod=st.sampled_from(KOMMUNER))
    def submission(self, event: str, slot: int, other: int, kommunkod: str) -> None:
        if event == "certificate":
            self.submit_certificate(slot, kommunkod)
        elif event == "replacement":
            self.replace(slot, other, kommunkod)
        else:
            self.withdraw(other)

    @rule(action=st.sampled_from(("consent", "foreign", "revoke", "repost")), kommunkod=st.sampled_from(KOMMUNER),
          which=st.integers(0, 100))
    def consent_change(self, action: str, kommunkod: str, which: int) -> None:
        if action == "consent":
            self.give_consent(kommunkod)
        elif action == "foreign":
            self.foreign_consent(kommunkod)
        elif action == "revoke":
            self.revoke(kommunkod)
        elif self.revoked:
            self.post_revoked_again(which)

    @rule(action=st.sampled_from(("dead-letter", "retry", "reprocess")), which=st.integers(0, 100))
    def operator(self, action: str, which: int) -> None:
        found = self.messages()
        if not found:
            return
        m = found[which % len(found)]
        if action == "dead-letter":
            self.w.run("admin", lambda ctx: operate.dead_letter(m.key, "operator", ctx))
        elif action == "retry":
            self.w.run("admin", lambda ctx: operate.retry(m.key, ctx))
        else:
            self.w.run("admin", lambda ctx: operate.reprocess(m.submission_id, ctx))

    @rule(action=st.sampled_from(("list", "fetch", "acknowledge")), kommunkod=st.sampled_from(KOMMUNER),
          which=st.integers(0, 100))
    def municipality(self, action: str, kommunkod: str, which: int) -> None:
        if action == "list":
            self.pull_list(kommunkod)
        elif action == "fetch":
            self.fetch(kommunkod, which)
        else:
            self.acknowledge(kommunkod, which)

    @rule(mode=st.sampled_from(MODES))
    def relay_pass(self, mode: str) -> None:
        self.mode = mode
        self.relay.run_once()
        self.delivered |= {m.key for m in self.messages(states=("delivered", "acknowledged"))}

    @rule()
    def time_passes(self) -> None:
        self.w.clock.advance(hours=1)  # every backoff is over

    # -- the actions ----------------------------------------------------------------------------
    def submit_certificate(self, slot: int, kommunkod: str) -> None:
        cid = CERTS[slot]
        if cid in self.certs:
            return
        answer = self.w.run("ehr", lambda ctx: submit(raw(certificate(cid, kommunkod)), ctx))
        assert not isinstance(answer, errors.AdapterError), answer
        self.certs[cid] = ("certificate", kommunkod)

    def replace(self, slot: int, original: int, kommunkod: str) -> None:
        cid, replaces = CERTS[slot], CERTS[original]
        if cid in self.certs or replaces not in self.certs or cid == replaces:
            return
        answer = self.w.run("ehr", lambda ctx: submit(raw(replacement(cid, replaces, kommunkod)), ctx))
        assert not isinstance(answer, errors.AdapterError), answer
        self.certs[cid] = ("replacement", kommunkod)

    def withdraw(self, slot: int) -> None:
        cid = CERTS[slot]
        if cid not in self.certs:
            return
        answer = self.w.run("ehr", lambda ctx: submit(raw(withdrawal(cid, self.certs[cid][1])), ctx))
        assert not isinstance(answer, errors.AdapterError), answer
        self.withdrawn.add(cid)

    def give_consent(self, kommunkod: str) -> None:
        self.n += 1
        posted = consent_for(kommunkod, self.n)
        stored = self.w.run("ehr", lambda ctx: consents.register_consent(raw(posted), ctx))
        assert not isinstance(stored, errors.AdapterError), stored
        self.active[kommunkod].append(stored["id"])
        self.posted[stored["id"]] = posted

    def foreign_consent(self, kommunkod: str) -> None:
        """Another care unit's consent for the same patient: it counts for nothing here."""
        self.n += 1
        posted = consent_for(kommunkod, self.n, "SE2321000016-9ZZZ")
        stored = self.w.run("other-ehr", lambda ctx: consents.register_consent(raw(posted), ctx))
        assert not isinstance(stored, errors.AdapterError), stored

    def revoke(self, kommunkod: str) -> None:
        for cid in self.active[kommunkod]:
            answer = self.w.run("ehr", lambda ctx, cid=cid: consents.revoke_consent(cid, ctx))
            assert not isinstance(answer, errors.AdapterError), answer
            self.revoked.append(self.posted[cid])
        self.active[kommunkod] = []

    def post_revoked_again(self, which: int) -> None:
        posted = self.revoked[which % len(self.revoked)]
        answer = self.w.run("ehr", lambda ctx: consents.register_consent(raw(posted), ctx))
        assert isinstance(answer, errors.Conflict), answer

    def pull_list(self, kommunkod: str) -> None:
        listed = self.w.run(PULLERS[kommunkod], pull.list_available)
        for item in listed["certificates"]:
            if not self.permitted(item["kind"], item["certificateId"], kommunkod):
                self.violations.append(f"listed without consent: {item['certificateId']} to {kommunkod}")

    def fetch(self, kommunkod: str, which: int) -> None:
        if found := self.messages(kommunkod=kommunkod):
            m = found[which % len(found)]
            got = self.w.run(PULLERS[kommunkod], lambda ctx: pull.fetch(m.key, ctx))
            if isinstance(got, pull.Pulled):
                if not self.permitted(m.kind, m.certificate_id, kommunkod):
                    self.violations.append(f"fetched without consent: {m.kind} {m.certificate_id} by {kommunkod}")
                self.holds.add(m.key)

    def acknowledge(self, kommunkod: str, which: int) -> None:
        if found := self.messages(kommunkod=kommunkod):
            m = found[which % len(found)]
            got = self.w.run(PULLERS[kommunkod], lambda ctx: pull.acknowledge(m.key, ctx))
            if isinstance(got, dict) and m.state not in ("acknowledged", "delivered"):
                if not self.permitted(m.kind, m.certificate_id, kommunkod):
                    self.violations.append(f"acknowledged without consent: {m.certificate_id} by {kommunkod}")
                self.holds.add(m.key)

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def nothing_leaves_without_consent(self) -> None:
        assert self.violations == [], self.violations

    @invariant()
    def nothing_is_lost(self) -> None:
        found = self.messages()
        for cid, (_, kommunkod) in self.certs.items():
            if not self.permitted("certificate", cid, kommunkod):
                continue
            mine = [m for m in found if m.certificate_id == cid and m.kommunkod == kommunkod and m.kind != "withdrawal"]
            assert mine and all(m.state not in HELD for m in mine), (cid, kommunkod, [m.state for m in mine])

    @invariant()
    def the_state_tells_the_truth(self) -> None:
        found = self.messages()
        for m in found:
            if m.key in self.holds:
                assert m.state != WITHHELD, f"{m.key} is withheld but the municipality may hold it"
        with self.w.tx() as tx:
            rows = {sid: tx.submission(sid) for sid in {m.submission_id for m in found}}
        for sid, row in rows.items():
            mine = [m for m in found if m.submission_id == sid]
            if row is not None and row.status == "withheld":
                assert not any(m.state == UNCERTAIN for m in mine), f"Task {sid} says withheld"
            if any(m.state == UNCERTAIN for m in mine) and row is not None:
                task = self.w.run("admin", lambda ctx, sid=sid: reads.read_task(sid, ctx))
                assert isinstance(task, dict) and task["businessStatus"]["coding"][0]["code"] != "withheld"


    @invariant()
    def the_municipality_is_told(self) -> None:
        found = self.messages()
        told = {(m.certificate_id, m.kommunkod) for m in found
                if m.kind == "consent-revoked" and m.state != "withdrawn"}  # withdrawn: recalled, never sent
        for m in found:
            if m.state == UNCERTAIN and m.key in self.holds and m.kind in ("certificate", "replacement"):
                assert (m.certificate_id, m.kommunkod) in told, f"{m.key} is uncertain and nobody told {m.kommunkod}"


def run(new_store: Callable[[], Store], examples: int = EXAMPLES, steps: int = STEPS, *, shrink: bool = True) -> None:
    machine = type("Machine", (Delivery,), {"new_store": staticmethod(new_store)})
    phases = list(Phase) if shrink else [Phase.explicit, Phase.generate]
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True, phases=phases,
        suppress_health_check=list(HealthCheck), database=None))


@pytest.fixture
def sql_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Callable[[], Store]]:
    from stores import empty

    from adapter.store.audit import AuditSeal
    from adapter.store.sql import SqlStore

    engine = request.getfixturevalue(f"{request.param}_engine")
    seal = AuditSeal(key=b"stateful-tests-audit-key-32-bytes-long", checkpoints=tmp_path / "audit-checkpoints.jsonl")

    def fresh() -> Store:
        empty(engine)
        return SqlStore(engine, seal=seal)

    yield fresh


def test_memory_smoke() -> None:
    """A few short runs in the default suite; the full runs below are ``slow`` (CI runs them)."""
    run(MemoryStore, examples=3, steps=12)


@pytest.mark.slow
def test_memory() -> None:
    run(MemoryStore)


@pytest.mark.slow
@pytest.mark.parametrize("sql_store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_sql(sql_store: Callable[[], Store]) -> None:
    run(sql_store)


@pytest.mark.slow
def test_it_finds_defect_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control: without the leave-time check on ``queue retry`` and in the relay (as on
    main before issue 12), a dead letter retried after its consent was revoked is sent, and the
    machine finds that sequence."""
    def fence_only(self: RelayStore, msg: Any) -> bool:
        with self.store.transaction() as tx:
            return bool(tx.messages(Match(claim=(msg.id, msg.token), states=("pending",))))

    monkeypatch.setattr(operate, "_refused", lambda key, action, ctx: None)
    monkeypatch.setattr(RelayStore, "still_claimed", fence_only)
    with pytest.raises(AssertionError, match="sent without consent"):
        run(MemoryStore, examples=200, shrink=False)  # stops at the first run that finds it


@pytest.mark.slow
def test_it_finds_an_untold_municipality(monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control of ``the_municipality_is_told``: without the consent-withdrawn notice
    (as on main before it), a revocation after a lost receipt leaves the municipality untold."""
    monkeypatch.setattr(release, "notify", lambda message, ctx: None)
    with pytest.raises(AssertionError, match="nobody told"):
        run(MemoryStore, examples=200, shrink=False)
