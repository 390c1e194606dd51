"""How submissions over HTTP scale with cores and with instances on one PostgreSQL (issue 15, target 5).

Three layouts, each the shipped gunicorn configuration (``deploy/gunicorn.conf.py``) against one
scratch PostgreSQL database, driven by :mod:`bench.loadgen` (a patient per request, as in
``bench.http_e2e``):

- ``1 instance, 1 core``: the server (master and workers) pinned to core 0 with ``taskset``;
  PostgreSQL and the load generator are not pinned;
- ``1 instance, all cores``: the server unpinned;
- ``2 instances, all cores``: two servers on the same database (the same configuration and keys,
  as two hosts behind a load balancer would have), each driven by a load generator of its own at
  half the concurrency, at the same time; the rate is the sum of the two.

The layouts alternate for ``--rounds`` rounds, so a change in the machine's load hits each alike.
Each cell reports submissions per second, p50/p99 latency, the server's CPU milliseconds per
submission (master and workers, from ``/proc``) and the load average at its start. The baseline
for the ratios is ``1 instance, 1 core`` of the same round.

``python -m bench.bench_scaling --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench import certificates, provision, servers
from bench.http_e2e import EXAMPLE_PATIENT, SHIPPED_CONFIG, SUBMIT_PATH, _loadgen

LAYOUTS = ("1 instance, 1 core", "1 instance, all cores", "2 instances, all cores")


def _drive(bases: list[str], body: Path, headers: dict[str, str], *, concurrency: int, requests: int,
           seconds: float) -> list[dict[str, Any]]:
    """One load generator per server, all at once, splitting the concurrency and the requests."""
    share = max(concurrency // len(bases), 1)
    out: list[dict[str, Any]] = [{} for _ in bases]

    def one(i: int) -> None:
        out[i] = _loadgen(bases[i] + SUBMIT_PATH, body, headers=headers,
                          placeholders=certificates.id_placeholders(), concurrency=share,
                          requests=max(requests // len(bases), 1), seconds=seconds, patient=EXAMPLE_PATIENT)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _cell(layout: str, env: dict[str, str], work: Path, body: Path, headers: dict[str, str], *,
          concurrency: int, requests: int, seconds: float) -> dict[str, Any]:
    count = 2 if layout.startswith("2 ") else 1
    cpus = "0" if layout.endswith("1 core") else None
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(servers.gunicorn_process(env, log=work / f"gunicorn-{i}.log",
                                                               config=SHIPPED_CONFIG, cpus=cpus))
                 for i in range(count)]
        bases = [base for base, _ in procs]
        _drive(bases, body, headers, concurrency=4 * count, requests=12 * count, seconds=10)  # warm the workers
        load = os.getloadavg()[0]
        cpu = sum(servers.tree_cpu_seconds(p.pid) for _, p in procs)
        runs = _drive(bases, body, headers, concurrency=concurrency, requests=requests, seconds=seconds)
        cpu = sum(servers.tree_cpu_seconds(p.pid) for _, p in procs) - cpu
    done = sum(r["requests"] for r in runs)
    codes: dict[str, int] = {}
    for r in runs:
        for code, n in r["status_codes"].items():
            codes[code] = codes.get(code, 0) + n
    return {"layout": layout, "loadavg_at_start": load, "requests": done, "status_codes": codes,
            "per_second": sum(r["per_second"] for r in runs),
            "p50_ms": max(r["p50_ms"] for r in runs), "p99_ms": max(r["p99_ms"] for r in runs),
            "server_cpu_ms_per_request": cpu / max(done, 1) * 1000}


def run(*, postgres_url: str, concurrency: int = 4, requests: int = 300, seconds: float = 30.0,
        rounds: int = 2) -> dict[str, Any]:
    provision.check_available()
    result: dict[str, Any] = {"concurrency": concurrency, "cores": os.cpu_count(), "rounds": []}
    with tempfile.TemporaryDirectory(prefix="lisn-scaling-") as tmp, servers.scratch_postgres(postgres_url) as url:
        work = Path(tmp)
        env = provision.environment(data_dir=work / "data", database_url=url)
        token = provision.prepare(env)
        body = work / "submission.json"
        body.write_bytes(certificates.example_bytes())
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json",
                   "Accept": "application/fhir+json"}
        for _ in range(rounds):
            cells = [_cell(layout, env, work, body, headers, concurrency=concurrency, requests=requests,
                           seconds=seconds) for layout in LAYOUTS]
            base = cells[0]["per_second"]
            for c in cells:
                c["ratio_vs_one_core"] = c["per_second"] / base if base else float("nan")
            result["rounds"].append(cells)
    result["median_per_second"] = {layout: statistics.median(r[i]["per_second"] for r in result["rounds"])
                                   for i, layout in enumerate(LAYOUTS)}
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"PostgreSQL, concurrency {result['concurrency']}, {result['cores']} cores"]
    lines.append(f"{'layout':26} {'per s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7} {'x 1 core':>8} {'load':>5}")
    for i, cells in enumerate(result["rounds"]):
        lines.append(f"round {i + 1}")
        for c in cells:
            lines.append(f"  {c['layout']:24} {c['per_second']:7.1f} {c['p50_ms']:7.1f} {c['p99_ms']:7.1f} "
                         f"{c['server_cpu_ms_per_request']:7.1f} {c['ratio_vs_one_core']:8.2f} {c['loadavg_at_start']:5.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postgres-url", required=True, help="an admin URL; a scratch database is made beside it")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=2)
    ns = ap.parse_args()
    result = run(postgres_url=ns.postgres_url, concurrency=ns.concurrency, requests=ns.requests,
                 seconds=ns.seconds, rounds=ns.rounds)
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
