"""One fault run: the service, two delivery workers killed with SIGKILL again and again, a
receiver behind a chaos proxy, a rejecting receiver, a database whose connections are cut,
duplicate and conflicting submissions, and a consent revoked while deliveries are in flight.
Ends with :func:`bench.fault.reconcile.reconcile`.
"""

from __future__ import annotations

import random
import signal
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import provision, servers
from bench.fault import api, processes, reconcile, scenario


@dataclass(frozen=True)
class Plan:
    deliver: int
    revoke: int
    reject: int
    kills: int
    db_cuts: int
    seconds: float
    seed: int = 8

    @classmethod
    def quick(cls) -> Plan:
        return cls(deliver=12, revoke=6, reject=2, kills=4, db_cuts=2, seconds=90)

    @classmethod
    def full(cls) -> Plan:
        return cls(deliver=200, revoke=40, reject=10, kills=25, db_cuts=8, seconds=600)


DELIVERY_ENV = {  # fast retries and short leases so that a run takes seconds, not hours
    "ADAPTER_DELIVERY_CONNECT_TIMEOUT": "1", "ADAPTER_DELIVERY_READ_TIMEOUT": "1",
    "ADAPTER_DELIVERY_BACKOFF_BASE": "0.05", "ADAPTER_DELIVERY_BACKOFF_MAX": "0.5",
    "ADAPTER_DELIVERY_LEASE_SECONDS": "8", "ADAPTER_DELIVERY_MAX_ATTEMPTS": "100",
}


class Workers:
    """Two ``adapter worker`` processes; ``kill_one`` SIGKILLs one and starts a replacement."""

    def __init__(self, env: dict[str, str], log: Path, count: int = 2) -> None:
        self.env, self.log = env, log
        self.procs = [processes.start_worker(env, log) for _ in range(count)]
        self.kills = 0
        self.lock = threading.Lock()  # held while paused: no kill restarts a worker then

    def kill_one(self, rng: random.Random) -> None:
        with self.lock:
            i = rng.randrange(len(self.procs))
            processes.kill9(self.procs[i])
            self.kills += 1
            self.procs[i] = processes.start_worker(self.env, self.log)

    def pause(self) -> None:
        """SIGSTOP every worker: what they hold is claimed but not yet sent (in flight)."""
        self.lock.acquire()
        for p in self.procs:
            p.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGCONT)
        self.lock.release()

    def stop(self) -> None:
        for p in self.procs:
            servers.stop(p)


def _register_rejecting(env: dict[str, str], endpoint: str) -> None:
    from adapter.settings import Settings
    from adapter.store.db import make_engine, session_factory, transaction
    from adapter.store.models import RecipientRow

    engine = make_engine(Settings.from_env(env).database.effective_url())
    try:
        with transaction(session_factory(engine)) as session:
            session.add(RecipientRow(kommunkod=scenario.REJECTING_KOMMUNKOD, name="Socialnämnden i Göteborgs stad",
                                  delivery_mode="push", endpoint_url=endpoint, active=True))
    finally:
        engine.dispose()


def _pending(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM outbox WHERE state = 'pending'")).scalar_one())
    finally:
        engine.dispose()


def _submit(client: api.Client, body: bytes, codes: Counter[str], label: str) -> api.Answer:
    """One submission as an EHR makes it: a 5xx (a cut database connection) is retried."""
    answer = client.submit(body)
    codes[f"{label}:{answer.status}"] += 1
    for _ in range(10):
        if answer.status < 500:
            break
        time.sleep(0.3)
        answer = client.submit(body)
        codes[f"{label}:retry:{answer.status}"] += 1
    return answer


def _submit_all(client: api.Client, planned: list[scenario.Planned]) -> dict[str, Any]:
    """Submit every certificate; every fourth again unchanged (must replay the first answer) and
    every seventh with changed content under the same id (must be a conflict)."""
    codes: Counter[str] = Counter()
    duplicates = {"sent": 0, "replayed_same_status": 0, "conflicts_sent": 0, "conflict_409": 0}
    for i, p in enumerate(planned):
        first = _submit(client, p.body, codes, p.group)
        if i % 4 == 1:
            again = _submit(client, p.body, Counter(), p.group)
            duplicates["sent"] += 1
            duplicates["replayed_same_status"] += again.status == first.status and again.body == first.body
        if i % 7 == 3:
            conflict = _submit(client, scenario.changed_content(p), Counter(), p.group)
            duplicates["conflicts_sent"] += 1
            duplicates["conflict_409"] += conflict.status == 409
    return {"status_codes": dict(codes), "duplicates": duplicates}


def _chaos_loop(stop: threading.Event, plan: Plan, workers: Workers, cut: Any, rng: random.Random,
                cuts: list[int]) -> None:
    events = ["kill"] * plan.kills + ["cut"] * plan.db_cuts
    rng.shuffle(events)
    for event in events:
        if stop.wait(rng.uniform(0.2, 1.0)):
            return
        if event == "kill":
            workers.kill_one(rng)
        elif cut is not None:
            cuts.append(cut())


def run(plan: Plan, *, database: str = "sqlite", postgres_admin_url: str | None = None,
        work: Path | None = None) -> dict[str, Any]:
    provision.check_available()
    with tempfile.TemporaryDirectory(prefix="lisn-fault-") as tmp:
        return _run(plan, Path(work or tmp), database, postgres_admin_url)


def _run(plan: Plan, work: Path, database: str, admin_url: str | None) -> dict[str, Any]:
    import contextlib

    with contextlib.ExitStack() as stack:
        db_url = None
        if database == "postgresql":
            db_url = stack.enter_context(servers.scratch_postgres(admin_url or ""))
        env = {**provision.environment(data_dir=work / "adapter", database_url=db_url), **DELIVERY_ENV}
        from adapter.settings import Settings

        url = Settings.from_env(env).database.effective_url()
        foreign = provision.environment(data_dir=work / "foreign")  # another CA: its receiver rejects us
        ports = [servers.free_port() for _ in range(3)]
        log = work / "fault.log"
        receiver = processes.start_receiver(work / "receiver.db", Path(env["ADAPTER_SIGNING_TRUST_PATHS"]), ports[0], log)
        stack.callback(servers.stop, receiver)
        rejecting = processes.start_receiver(work / "rejecting.db", Path(foreign["ADAPTER_SIGNING_TRUST_PATHS"]),
                                             ports[1], log)
        stack.callback(servers.stop, rejecting)
        chaos = processes.start_chaos(ports[2], f"http://127.0.0.1:{ports[0]}", seed=plan.seed, stall_seconds=2.5,
                                      log=log)
        stack.callback(servers.stop, chaos)
        token = provision.prepare(env, endpoint=f"http://127.0.0.1:{ports[2]}/inbox")
        _register_rejecting(env, f"http://127.0.0.1:{ports[1]}/inbox")
        base = stack.enter_context(servers.gunicorn(env, workers=2, log=log))
        workers = Workers(env, log)
        stack.callback(workers.stop)
        client = api.Client(base, token)
        stack.callback(client.close)
        # Revoked by an admin client (written when a sender could not revoke a consent that came
        # inside its own submission; fixed since, see tests/abuse/test_findings.py).
        admin = api.Client(base, provision.add_client(env, role="admin"))
        stack.callback(admin.close)
        rng = random.Random(plan.seed)
        cut = None
        if db_url:
            name = db_url.rsplit("/", 1)[1]
            cut = lambda: servers.terminate_backends(admin_url or "", name)  # noqa: E731
        stop, cuts = threading.Event(), []  # type: ignore[var-annotated]
        chaos_thread = threading.Thread(target=_chaos_loop, args=(stop, plan, workers, cut, rng, cuts))
        planned = scenario.plan(deliver=plan.deliver, revoke=plan.revoke, reject=plan.reject, seed=plan.seed)
        started = time.monotonic()
        chaos_thread.start()
        half = len(planned) // 2
        revocable = [p for p in planned[:half] if p.group == "revoke"]
        held = revocable[-max(1, len(revocable) // 3):]  # sent while the workers are stopped
        submitted = _submit_all(client, [p for p in planned[:half] if p not in held])
        workers.pause()
        try:
            held_answers = _submit_all(client, held)
            revoked_at = time.time()
            revoked = admin.revoke_patient(scenario.REVOCABLE_PATIENT[1])  # deliveries are in flight now
        finally:
            workers.resume()
        late = _submit_all(client, planned[half:])
        chaos_thread.join()
        deadline = started + plan.seconds
        while _pending(url) and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        chaos_seen = _chaos_counts(ports[2])
        rec = reconcile.reconcile(url, work / "receiver.db", revoked_at=revoked_at,
                                  first_sent=chaos_seen["first_sent"])
        return {"plan": plan.__dict__, "database": database, "seconds": time.monotonic() - started,
                "worker_kills": workers.kills, "db_connection_cuts": cuts, "revocation_statuses": revoked,
                "submissions_before_revocation": submitted, "submissions_while_paused": held_answers,
                "submissions_after_revocation": late,
                "chaos": chaos_seen["counts"], "reconciliation": rec.as_dict()}


def _chaos_counts(port: int) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_chaos", timeout=5) as resp:
        return dict(json.loads(resp.read()))
