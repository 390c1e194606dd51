"""The statistics tally on PostgreSQL with 100,000 synthetic certificates, against a plain COUNT(*).

Rows: 2,000 distinct synthetic certificates (``adapter.stats.synth``, through the same
``statistics_row`` as at receipt) repeated to ``--rows`` with fresh keys, bulk-inserted into a
schema of its own, migrated by the project's migrations. Subjects, interleaved round by round (a
busy machine slows each alike):

- baseline ``SELECT COUNT(*)`` on the statistics table;
- ``tally sex``, ``tally sex×agegroup×kommun``, ``tally region×capacity×activity:sprak×measure:sip``
  (``SqlTx.tally_statistics``: one GROUP BY, an outer join per multi-valued dimension);
- ``table kommun×sex×agegroup`` (the tally and the disclosure control, ``flows.stats.statistics_table``
  as the CLI and the API run it, audit row included).

``python -m bench.bench_stats [--rows N] [--rounds N] [--url URL]`` (default URL
``$ADAPTER_TEST_POSTGRES_URL``); prints a table of medians with the ratio to COUNT(*) and one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapter.flows import context
from adapter.flows import stats as flow
from adapter.flows.context import Service
from adapter.flows.ports import ClientInfo
from adapter.settings import Settings
from adapter.stats.row import statistics_row
from adapter.stats.synth import outcome, received_at, synthetic_certificates
from adapter.store import migrate
from adapter.store.audit import AuditSeal
from adapter.store.db import make_engine
from adapter.store.sql import SqlStore

DISTINCT = 2000
READER = ClientInfo(id="", name="bench", role="statistics")


def rows(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import random

    rng = random.Random(19)
    distinct = []
    for bundle in synthetic_certificates(min(count, DISTINCT), seed=19):
        facts = dataclasses.asdict(statistics_row(bundle, received_at(bundle)))
        drawn = outcome(rng)
        facts.update(consent=drawn.consent, status=drawn.status, delivery_days=drawn.delivery_days)
        distinct.append(facts)
    stats, items = [], []
    for n in range(count):
        facts = dict(distinct[n % len(distinct)])
        key = f"synthetic-{n:026d}"
        activities, measures = facts.pop("activities"), facts.pop("measures")
        stats.append({**facts, "submission_id": key})
        items += [{"submission_id": key, "kind": "activity", "code": c, "level": lv} for c, lv in activities.items()]
        items += [{"submission_id": key, "kind": "measure", "code": c, "level": None} for c in measures]
    return stats, items


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--url", default=os.environ.get("ADAPTER_TEST_POSTGRES_URL",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/adapter_test"))
    args = parser.parse_args()
    schema = f"bench_stats_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(args.url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        results = run(engine, args.rows, args.rounds)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    print(json.dumps(results))


def run(engine: sa.Engine, count: int, rounds: int) -> dict[str, Any]:
    migrate.upgrade(engine)
    started = time.perf_counter()
    stats, items = rows(count)
    made = time.perf_counter() - started
    meta = sa.MetaData()
    table = sa.Table("certificate_statistics", meta, autoload_with=engine)
    item_table = sa.Table("certificate_statistics_item", meta, autoload_with=engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(stats), 5000):
            conn.execute(table.insert(), stats[i:i + 5000])
        for i in range(0, len(items), 20000):
            conn.execute(item_table.insert(), items[i:i + 20000])
        conn.execute(sa.text("ANALYZE certificate_statistics; ANALYZE certificate_statistics_item"))
    loaded = time.perf_counter() - started
    checkpoints = Path(tempfile.mkdtemp(prefix="bench-stats-")) / "audit-checkpoints.jsonl"
    store = SqlStore(engine, seal=AuditSeal(key=secrets.token_bytes(32), checkpoints=checkpoints))
    service = Service(settings=Settings(), store=store, registry=None, stages=None)  # type: ignore[arg-type]

    def tally(*dims: str) -> Callable[[], Any]:
        def call() -> Any:
            with store.transaction() as tx:
                return tx.tally_statistics(dims)
        return call

    def count_all() -> Any:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM certificate_statistics")).scalar_one()

    query = flow.Query(by=("kommun", "sex", "agegroup"))
    subjects: dict[str, Callable[[], Any]] = {
        "COUNT(*) (baseline)": count_all,
        "tally sex": tally("sex"),
        "tally sex×agegroup×kommun": tally("sex", "age_band", "kommunkod"),
        "tally region×capacity×activity:sprak×measure:sip": tally("region", "work_capacity", "activity:sprak",
                                                                  "measure:sip"),
        "table kommun×sex×agegroup (tally + disclosure control)":
            lambda: context.run(service, READER, lambda ctx: flow.statistics_table(query, ctx)),
    }
    assert count_all() == count
    assert sum(n for _, n in tally("sex")()) == count
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(rounds):
        for name, call in subjects.items():
            times[name].append(timed(call))
    base = statistics.median(times["COUNT(*) (baseline)"])
    print(f"{count} statistics rows ({len(items)} items) on PostgreSQL; made in {made:.1f} s, loaded in {loaded:.1f} s")
    print(f"{'subject':58} {'median ms':>10} {'× COUNT(*)':>11}")
    out: dict[str, Any] = {"rows": count, "items": len(items), "rounds": rounds, "subjects": {}}
    for name, found in times.items():
        median = statistics.median(found)
        print(f"{name:58} {median * 1000:10.1f} {median / base:11.1f}")
        out["subjects"][name] = {"median_ms": round(median * 1000, 2), "ratio_to_count": round(median / base, 2)}
    return out


if __name__ == "__main__":
    main()
