"""One fault run: the service, two delivery workers killed with SIGKILL again and again, a
receiver behind a chaos proxy that is itself killed and restarted, a rejecting receiver, a slow
municipality (a tarpit that answers one byte at a time), a database whose connections are cut,
duplicate and conflicting submissions, and a consent revoked while deliveries are in flight.
Ends with :func:`bench.fault.reconcile.reconcile` and the healthy municipality's delivery figures.
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
    slow: int = 0
    """Certificates to the slow municipality (the tarpit)."""
    receiver_kills: int = 0
    """Times the healthy receiver is SIGKILLed (and restarted a moment later)."""
    chaos: bool = True
    """The chaos proxy fails and stalls at random; False: it only forwards (clean latency figures)."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra settings for the service and the workers."""

    @classmethod
    def quick(cls) -> Plan:
        return cls(deliver=12, revoke=6, reject=2, kills=4, db_cuts=2, seconds=90, slow=3, receiver_kills=2)

    @classmethod
    def full(cls) -> Plan:
        return cls(deliver=200, revoke=40, reject=10, kills=25, db_cuts=8, seconds=600, slow=20, receiver_kills=5)

    @classmethod
    def isolation(cls, *, slow: int, env: tuple[tuple[str, str], ...] = ()) -> Plan:
        """Healthy deliveries with or without a slow municipality: no kills, no cuts, no chaos."""
        return cls(deliver=60, revoke=0, reject=0, kills=0, db_cuts=0, seconds=300, slow=slow, chaos=False,
                   env=env)


DELIVERY_ENV = {  # fast retries and short leases so that a run takes seconds, not hours
    "ADAPTER_DELIVERY_CONNECT_TIMEOUT": "1", "ADAPTER_DELIVERY_READ_TIMEOUT": "1",
    "ADAPTER_DELIVERY_BACKOFF_BASE": "0.05", "ADAPTER_DELIVERY_BACKOFF_MAX": "0.5",
    "ADAPTER_DELIVERY_LEASE_SECONDS": "8", "ADAPTER_DELIVERY_MAX_ATTEMPTS": "100",
    # Total deadline 2 s per push; a circuit opens after 3 failures in a row and stays open 3 s.
    "ADAPTER_DELIVERY_PUSH_DEADLINE": "2", "ADAPTER_DELIVERY_BREAKER_FAILURES": "3",
    "ADAPTER_DELIVERY_BREAKER_COOLDOWN": "3",
}
WITHOUT_ISOLATION = (("ADAPTER_DELIVERY_LANES", "1"), ("ADAPTER_DELIVERY_BREAKER_FAILURES", "0"))
"""One push at a time per worker and no circuit breaker: the relay before issue 12 (with the deadline)."""


class Receiver:
    """The healthy reference receiver; ``kill_and_restart`` SIGKILLs it and starts it again on the same
    port and store after ``down`` seconds (pushes meanwhile get a 502 from the proxy)."""

    def __init__(self, db: Path, trust: Path, port: int, log: Path) -> None:
        self.args = (db, trust, port, log)
        self.proc = processes.start_receiver(*self.args)
        self.kills = 0

    def kill_and_restart(self, down: float = 1.0) -> None:
        processes.kill9(self.proc)
        self.kills += 1
        time.sleep(down)
        self.proc = processes.start_receiver(*self.args)

    def stop(self) -> None:
        servers.stop(self.proc)


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

    def pause(self, url: str) -> None:
        """SIGSTOP every worker between two transactions: what they hold is claimed but not yet sent
        (in flight). A worker stopped inside a transaction would hold the database's locks for the
        whole pause (SQLite's one write lock; on PostgreSQL a patient's lock), which no scenario
        here is about: then the workers run on a moment and are stopped again."""
        self.lock.acquire()
        for _ in range(200):
            for p in self.procs:
                p.send_signal(signal.SIGSTOP)
            if not _transaction_open(url):
                return
            for p in self.procs:
                p.send_signal(signal.SIGCONT)
            time.sleep(random.uniform(0.01, 0.05))
        self.lock.release()
        raise RuntimeError("the workers were inside a transaction at each of 200 tries to pause them")

    def resume(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGCONT)
        self.lock.release()

    def stop(self) -> None:
        for p in self.procs:
            servers.stop(p)


def _transaction_open(url: str) -> bool:
    """Whether some other connection is inside a transaction on the database at ``url`` (at a pause
    nothing but the stopped workers uses it)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1], timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                return True
            raise
        finally:
            conn.close()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')")).scalar())
    except sa.exc.DBAPIError:
        # The chaos cut this probe's own connection too (it cuts every connection to the
        # database): no answer, so the caller lets the workers run on and asks again.
        return True
    finally:
        engine.dispose()


def _register(env: dict[str, str], kommunkod: str, name: str, endpoint: str) -> None:
    from adapter.settings import Settings
    from adapter.store.db import make_engine, session_factory, transaction
    from adapter.store.models import RecipientRow

    engine = make_engine(Settings.from_env(env).database.effective_url())
    try:
        with transaction(session_factory(engine)) as session:
            session.add(RecipientRow(kommunkod=kommunkod, name=name, delivery_mode="push", endpoint_url=endpoint,
                                     active=True))
    finally:
        engine.dispose()


def _unsettled(url: str, *, slow: bool) -> bool:
    """Messages still pending, except to the slow municipality (they wait for it by design); with a
    slow municipality in the plan, also: not one attempt on it recorded yet."""
    k = {"k": scenario.SLOW_KOMMUNKOD}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM outbox WHERE state = 'pending' AND kommunkod <> :k"),
                            k).scalar_one():
                return True
            return slow and not conn.execute(sa.text(
                "SELECT count(*) FROM delivery_receipt r JOIN outbox o ON r.outbox_id = o.id WHERE o.kommunkod = :k"),
                k).scalar_one()
    finally:
        engine.dispose()


def healthy_figures(url: str, kommunkod: str = "0180") -> dict[str, Any]:
    """Delivery to a healthy municipality: how many of its messages were delivered, and how long
    each took from being queued (accepted with consent) to its positive receipt."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT state, created_at, delivered_at FROM outbox "
                                        "WHERE kommunkod = :k AND kind = 'certificate'"), {"k": kommunkod}).all()
    finally:
        engine.dispose()
    # Held by the revocation (withheld, or uncertain: it may have arrived, unconfirmed) is not the
    # healthy municipality's to deliver: counted by the reconciliation, not here.
    queued = [r for r in rows if r[0] not in ("withheld", "uncertain")]
    done = sorted(r[2] - r[1] for r in queued if r[0] == "delivered" and r[2] is not None)
    span = (max(r[2] for r in queued if r[2] is not None) - min(r[1] for r in queued)) if done else 0.0

    def pct(p: float) -> float:
        return round(done[min(len(done) - 1, int(p * len(done)))], 3) if done else 0.0
    return {"kommunkod": kommunkod, "queued": len(queued), "delivered": len(done),
            "delivered_share": round(len(done) / len(queued), 4) if queued else 0.0,
            "latency_p50_s": pct(0.5), "latency_p95_s": pct(0.95), "latency_max_s": round(done[-1], 3) if done else 0.0,
            "deliveries_per_s": round(len(done) / span, 2) if span else 0.0}


def _slow_attempts(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT o.state, count(r.id) FROM outbox o LEFT JOIN delivery_receipt r "
                                        "ON r.outbox_id = o.id WHERE o.kommunkod = :k GROUP BY o.id, o.state"),
                                {"k": scenario.SLOW_KOMMUNKOD}).all()
            errors = conn.execute(sa.text("SELECT last_error FROM outbox WHERE kommunkod = :k"),
                                  {"k": scenario.SLOW_KOMMUNKOD}).scalars().all()
    finally:
        engine.dispose()
    return {"messages": len(rows), "states": dict(Counter(r[0] for r in rows)),
            "attempts": sum(int(r[1]) for r in rows),
            "circuit_open_seen": sum("circuit open" in (e or "") for e in errors)}


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


class _Chaos(threading.Thread):
    """:func:`_chaos_loop` in a thread that keeps its exception for the run to raise (a thread's
    exception would otherwise surface in whatever test runs next), and that the run always stops
    and joins, also when the run itself fails."""

    def __init__(self, *args: Any) -> None:
        super().__init__(name="fault-chaos", daemon=True)
        self.args_: tuple[Any, ...] = args
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            _chaos_loop(*self.args_)
        except BaseException as exc:  # noqa: BLE001 - kept and raised in the run's own thread
            self.error = exc

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            raise RuntimeError("the fault run's chaos thread failed") from self.error


def _chaos_loop(stop: threading.Event, plan: Plan, workers: Workers, cut: Any, rng: random.Random,
                cuts: list[int], receiver: Receiver) -> None:
    events = ["kill"] * plan.kills + ["cut"] * plan.db_cuts
    rng.shuffle(events)
    # The receiver goes down at fixed places (kept out of the seeded sequence, which stays as it was).
    for i in range(plan.receiver_kills):
        events.insert((i + 1) * len(events) // (plan.receiver_kills + 1), "receiver")
    for event in events:
        if stop.wait(rng.uniform(0.2, 1.0)):
            return
        if event == "kill":
            workers.kill_one(rng)
        elif event == "receiver":
            receiver.kill_and_restart()
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
        env = {**provision.environment(data_dir=work / "adapter", database_url=db_url), **DELIVERY_ENV,
               **dict(plan.env)}
        from adapter.settings import Settings

        url = Settings.from_env(env).database.effective_url()
        foreign = provision.environment(data_dir=work / "foreign")  # another CA: its receiver rejects us
        ports = [servers.free_port() for _ in range(4)]
        log = work / "fault.log"
        receiver = Receiver(work / "receiver.db", Path(env["ADAPTER_SIGNING_TRUST_PATHS"]), ports[0], log)
        stack.callback(receiver.stop)
        rejecting = processes.start_receiver(work / "rejecting.db", Path(foreign["ADAPTER_SIGNING_TRUST_PATHS"]),
                                             ports[1], log)
        stack.callback(servers.stop, rejecting)
        rates = {} if plan.chaos else {"fail_before": 0.0, "fail_after": 0.0, "stall": 0.0}
        chaos = processes.start_chaos(ports[2], f"http://127.0.0.1:{ports[0]}", seed=plan.seed, stall_seconds=2.5,
                                      log=log, **rates)
        stack.callback(servers.stop, chaos)
        tarpit = processes.start_tarpit(ports[3], log)
        stack.callback(servers.stop, tarpit)
        token = provision.prepare(env, endpoint=f"http://127.0.0.1:{ports[2]}/inbox")
        _register(env, scenario.REJECTING_KOMMUNKOD, "Socialnämnden i Göteborgs stad", f"http://127.0.0.1:{ports[1]}/inbox")
        _register(env, scenario.SLOW_KOMMUNKOD, "Socialnämnden i Norrköpings kommun",
                  f"http://127.0.0.1:{ports[3]}/inbox")
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
        chaos_thread = _Chaos(stop, plan, workers, cut, rng, cuts, receiver)
        planned = scenario.plan(deliver=plan.deliver, revoke=plan.revoke, reject=plan.reject, seed=plan.seed,
                                slow=plan.slow)
        started = time.monotonic()
        chaos_thread.start()
        stack.callback(chaos_thread.join)  # on a failure below: stopped (next line) and waited for
        stack.callback(stop.set)
        half = len(planned) // 2
        revocable = [p for p in planned[:half] if p.group == "revoke"]
        held = revocable[-max(1, len(revocable) // 3):]  # sent while the workers are stopped
        submitted = _submit_all(client, [p for p in planned[:half] if p not in held])
        workers.pause(url)
        try:
            held_answers = _submit_all(client, held)
            revoked_at = time.time()
            # Deliveries are in flight now. (No revocable certificates, as in --isolation: nothing to revoke.)
            revoked = admin.revoke_patient(scenario.REVOCABLE_PATIENT[1]) if plan.revoke else []
        finally:
            workers.resume()
        late = _submit_all(client, planned[half:])
        chaos_thread.finish()
        # Settle: nothing pending to the healthy municipalities and the slow one tried at least once
        # (its first push ends only at the push deadline). On a loaded machine this takes longer than
        # the plan's time, so the wait has a grace of its own; a run that still has not settled then
        # is reported as it stands (and fails the test).
        deadline = started + plan.seconds + max(30.0, plan.seconds)
        while _unsettled(url, slow=bool(plan.slow)) and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        chaos_seen = _chaos_counts(ports[2])
        rec = reconcile.reconcile(url, work / "receiver.db", revoked_at=revoked_at,
                                  first_sent=chaos_seen["first_sent"], waiting_kommunkod=scenario.SLOW_KOMMUNKOD)
        return {"plan": {**plan.__dict__, "env": dict(plan.env)}, "database": database,
                "seconds": time.monotonic() - started, "healthy": healthy_figures(url),
                "slow_municipality": _slow_attempts(url), "receiver_kills": receiver.kills,
                "worker_kills": workers.kills, "db_connection_cuts": cuts, "revocation_statuses": revoked,
                "submissions_before_revocation": submitted, "submissions_while_paused": held_answers,
                "submissions_after_revocation": late,
                "chaos": chaos_seen["counts"], "reconciliation": rec.as_dict()}


def _chaos_counts(port: int) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_chaos", timeout=5) as resp:
        return dict(json.loads(resp.read()))
