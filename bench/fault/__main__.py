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
    ns = ap.parse_args(argv)
    plan = run.Plan.quick() if ns.quick else run.Plan.full()
    dbs = ("sqlite", "postgresql") if ns.db == "both" else (ns.db,)
    results = {db: run.run(plan, database=db, postgres_admin_url=ns.postgres_url) for db in dbs}
    for db, r in results.items():
        rec = r["reconciliation"]
        print(f"{db:<10} accepted {rec['accepted']} = delivered {rec['delivered']} + withheld {rec['withheld']}"
              f" + uncertain {rec['uncertain']} + dead-lettered {rec['dead_lettered']} + withdrawn {rec['withdrawn']};"
              f" unfinished {rec['unfinished']};"
              f" kills {r['worker_kills']}; db cuts {len(r['db_connection_cuts'])}; chaos {r['chaos']};"
              f" receiver stored {rec['receiver_documents']} from {rec['receiver_requests']} requests"
              f" -> {'OK' if rec['ok'] else 'FAILED'}")
    if ns.out:
        ns.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0 if all(r["reconciliation"]["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
