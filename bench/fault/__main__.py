"""``python -m bench.fault [--quick] [--db sqlite|postgresql|both] [--out fault.json]``

Runs the fault scenario (see :mod:`bench.fault.run`) and prints the reconciliation; exits 1
when it does not balance. ``tests/fault`` runs ``--quick`` on both databases.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.fault import run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fault", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--isolation", action="store_true",
                    help="Measure the healthy municipality's deliveries without and with a slow one (SQLite).")
    ns = ap.parse_args(argv)
    if ns.isolation:
        return _isolation(ns.out)
    plan = run.Plan.quick() if ns.quick else run.Plan.full()
    dbs = ("sqlite", "postgresql") if ns.db == "both" else (ns.db,)
    results = {db: run.run(plan, database=db, postgres_admin_url=ns.postgres_url) for db in dbs}
    for db, r in results.items():
        rec = r["reconciliation"]
        print(f"{db:<10} accepted {rec['accepted']} = delivered {rec['delivered']} + withheld {rec['withheld']}"
              f" + uncertain {rec['uncertain']} + dead-lettered {rec['dead_lettered']} + withdrawn {rec['withdrawn']}"
              f" + waiting for the slow municipality {rec['waiting_for_slow_recipient']}; unfinished {rec['unfinished']};"
              f" kills {r['worker_kills']}; receiver kills {r['receiver_kills']};"
              f" db cuts {len(r['db_connection_cuts'])}; chaos {r['chaos']}; healthy {r['healthy']};"
              f" receiver stored {rec['receiver_documents']} from {rec['receiver_requests']} requests"
              f" -> {'OK' if rec['ok'] else 'FAILED'}")
    if ns.out:
        ns.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0 if all(r["reconciliation"]["ok"] for r in results.values()) else 1


def _isolation(out: Path | None) -> int:
    """Three runs on SQLite, no faults but the slow municipality: without it, with it, and with it
    while the relay runs one push at a time without a circuit breaker (the relay before issue 12)."""
    cases = {"without slow municipality": run.Plan.isolation(slow=0),
             "with slow municipality": run.Plan.isolation(slow=20),
             "with slow municipality, isolation off": run.Plan.isolation(slow=20, env=run.WITHOUT_ISOLATION)}
    results = {name: run.run(plan, database="sqlite") for name, plan in cases.items()}
    for name, r in results.items():
        h, s = r["healthy"], r["slow_municipality"]
        print(f"{name:<40} healthy 0180: {h['delivered']}/{h['queued']} delivered, latency p50 {h['latency_p50_s']} s,"
              f" p95 {h['latency_p95_s']} s, max {h['latency_max_s']} s, {h['deliveries_per_s']}/s;"
              f" slow 0581: {s['attempts']} attempts, circuit open seen {s['circuit_open_seen']};"
              f" run {r['seconds']:.1f} s -> {'OK' if r['reconciliation']['ok'] else 'FAILED'}")
    if out:
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0 if all(r["reconciliation"]["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
