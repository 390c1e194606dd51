"""Where a submission's CPU goes, in process: ``python -m bench.bench_submit``.

``POST /fhir/$process-message`` of the example submission through the Flask test client (no
HTTP server), each with a fresh certificate id and a synthetic patient of its own, as the HTTP
bench sends them, on SQLite and on PostgreSQL (``--postgres-url`` names an admin connection; a
scratch database is created beside it for the run and dropped after it, as the other benches do:
:func:`bench.servers.scratch_postgres`). ``time.process_time`` around
each step of :func:`adapter.flows.submit.submit` (the step functions are wrapped for the run)
and the SQL statements each step sends (SQLAlchemy's ``before_cursor_execute``).

Prints, per database, CPU ms per submission by step (median of the per-request figures and the
mean), the service's own CPU (the mean without the stages: parse, validate, render+sign),
statements per submission by step, and the statements' shapes with their counts.
The CPU of PostgreSQL's own server process is not in these figures (another process).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import certificates, provision, servers
from bench.loadgen import synthetic_personnummer

PATIENT = "191212121212"
STAGES = ("parse", "validate", "render+sign")
"""The pure stages (parsing, validation, rendering and signing: other modules' work); the rest of a
submission's CPU is the service's own (HTTP, authentication, the store, the flows)."""
SUBMIT = "/fhir/$process-message"


class Meter:
    """CPU time and statement counts by step; steps nest (the inner time is taken off the outer)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.sql: dict[str, int] = defaultdict(int)
        self.shapes: Counter[str] = Counter()
        self.stack: list[str] = ["(outside submit)"]

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = self.stack[-1]
            t0 = time.process_time()
            self.stack.append(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                spent = time.process_time() - t0
                self.cpu[name] += spent
                self.cpu[outer] -= spent
        return timed

    def statement(self, text: str) -> None:
        self.sql[self.stack[-1]] += 1
        self.shapes[" ".join(text.split())[:110]] += 1


def _patch(meter: Meter) -> list[tuple[Any, str, Any]]:
    from sqlalchemy.orm.session import SessionTransaction

    from adapter.api import auth, http, submissions
    from adapter.flows import consents, release, stats, submit
    from adapter.store import audit, sql

    targets = [
        (submit, "parse_submission", "parse"),
        (submit, "authorise_sender", "authorise"),
        (submit, "replay_or_conflict", "replay lookup"),
        (submit, "validate_submission", "validate"),
        (consents, "bundle_consents", "preconditions"),
        (release, "withdrawal_precondition", "preconditions"),
        (release, "replacement_precondition", "preconditions"),
        (consents, "bundle_consents_precondition", "preconditions"),
        (submit, "store_received", "store received"),
        (stats, "record_receipt", "statistics row"),
        (consents, "store_bundle_consents", "store consents"),
        (release, "decide", "consent decision"),
        (release, "release", "release (queue)"),
        (release, "document", "render+sign"),
        (submit, "accept", "accept (task, receipt, audit)"),
        (auth, "authenticate_client", "authenticate (own transaction)"),
        (http, "read_body", "read body"),
        (submissions, "run", "transaction begin/end"),
        (submissions, "submit", "submit (its own code)"),
        (sql.SqlTx, "flush", "commit: batched writes"),
        (SessionTransaction, "commit", "commit"),
        (audit, "write_checkpoint", "audit checkpoint file"),
        (http, "fhir_response", "answer (JSON)"),
    ]
    saved = []
    for module, attr, name in targets:
        fn = getattr(module, attr, None)
        if fn is None:  # an older checkout (a before/after run): not there
            continue
        saved.append((module, attr, fn))
        setattr(module, attr, meter.wrap(name, fn))
    return saved


def _unpatch(saved: list[tuple[Any, str, Any]]) -> None:
    for module, attr, fn in saved:
        setattr(module, attr, fn)


@contextlib.contextmanager
def _app(data_dir: Path, admin_url: str | None) -> Iterator[tuple[Any, str, Any]]:
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(servers.scratch_postgres(admin_url)) if admin_url else None
        env = provision.environment(data_dir=data_dir, database_url=database_url)
        token = provision.prepare(env)
        from adapter.api import create_app

        app = create_app({"TESTING": True, "SETTINGS": provision.settings_of(env)})
        try:
            yield app, token, app.extensions["lisn"].store.engine
        finally:
            app.extensions["lisn"].store.engine.dispose()


def measure(database_url: str | None, count: int, warm: int) -> dict[str, Any]:
    from sqlalchemy import event

    body = certificates.example_bytes()
    placeholders = [p.encode() for p in certificates.id_placeholders()]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp, _app(Path(tmp), database_url) as (app, token, engine):
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        meter = Meter()
        counting = [False]

        def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if counting[0]:
                meter.statement(statement)

        event.listen(engine, "before_cursor_execute", before)
        saved = _patch(meter)
        totals: list[float] = []
        per_step: dict[str, list[float]] = defaultdict(list)
        try:
            for number in range(warm + count):
                payload = body
                for ph in placeholders:
                    payload = payload.replace(ph, str(uuid.uuid4()).encode())
                payload = payload.replace(PATIENT.encode(), synthetic_personnummer(rng).encode())
                measuring = number >= warm
                before_cpu = dict(meter.cpu)
                counting[0] = measuring
                t0 = time.process_time()
                response = client.post(SUBMIT, data=payload, headers=headers)
                spent = time.process_time() - t0
                counting[0] = False
                if response.status_code != 200:
                    raise SystemExit(f"submission answered {response.status_code}: {response.get_data()[:300]!r}")
                if not measuring:
                    meter.cpu.clear()
                    meter.sql.clear()
                    meter.shapes.clear()
                    continue
                totals.append(spent)
                inside = 0.0
                for name, value in meter.cpu.items():
                    if name != "(outside submit)":
                        step = value - before_cpu.get(name, 0.0)
                        per_step[name].append(step)
                        inside += step
                per_step["(outside submit)"].append(spent - inside)
        finally:
            _unpatch(saved)
            event.remove(engine, "before_cursor_execute", before)
    steps = {name: {"median_ms": 1000 * statistics.median(v), "mean_ms": 1000 * statistics.fmean(v),
                    "statements": meter.sql.get(name, 0) / count}
             for name, v in per_step.items()}
    return {"database": "postgresql" if database_url else "sqlite", "submissions": count,
            "cpu_ms_median": 1000 * statistics.median(totals), "cpu_ms_mean": 1000 * statistics.fmean(totals),
            "statements": sum(meter.sql.values()) / count, "steps": steps,
            "shapes": {k: v / count for k, v in meter.shapes.most_common()}}


def _print(result: dict[str, Any]) -> None:
    print(f"\n== {result['database']}: {result['submissions']} submissions, CPU per submission "
          f"median {result['cpu_ms_median']:.2f} ms, mean {result['cpu_ms_mean']:.2f} ms, "
          f"{result['statements']:.1f} statements")
    stages = sum(result["steps"].get(name, {}).get("mean_ms", 0.0) for name in STAGES)
    print(f"   the stages ({', '.join(STAGES)}) mean {stages:.2f} ms; the service's own (the rest) mean "
          f"{result['cpu_ms_mean'] - stages:.2f} ms")
    print(f"{'step':32} {'median ms':>10} {'mean ms':>9} {'stmts':>6}")
    for name, row in sorted(result["steps"].items(), key=lambda kv: -kv[1]["mean_ms"]):
        print(f"{name:32} {row['median_ms']:10.2f} {row['mean_ms']:9.2f} {row['statements']:6.1f}")
    print("statements per submission by shape:")
    for shape, n in result["shapes"].items():
        print(f"  {n:4.1f}  {shape}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--count", type=int, default=150, help="submissions measured per database")
    ap.add_argument("--warm", type=int, default=20, help="submissions sent first, not measured")
    ap.add_argument("--postgres-url", help="a PostgreSQL admin URL; a scratch database is made beside it")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args(argv)
    results = []
    if not args.no_sqlite:
        results.append(measure(None, args.count, args.warm))
    if args.postgres_url:
        results.append(measure(args.postgres_url, args.count, args.warm))
    for result in results:
        _print(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
