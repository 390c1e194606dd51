"""A server worker's first requests, with and without the shipped warm-up (issue 15, target 5's tail).

The shipped gunicorn configuration (``deploy/gunicorn.conf.py``) validates the example submissions
in each worker's ``post_worker_init`` until their FHIRPath code is generated
(:mod:`adapter.validation.warm`). The baseline, in the same run, is the same configuration with a
``post_worker_init`` that only freezes the garbage collector (what it did before). Each variant
starts its own gunicorn on a scratch PostgreSQL database, sends the 12 warming requests
:mod:`bench.http_e2e` sends, then ``--rounds`` rounds of ``--requests`` submissions at concurrency
``--concurrency`` (:mod:`bench.loadgen`, as the ``http`` section drives it), and prints each round's
rate, p99 and slowest request. The first rounds are where the generation happened inside requests.

``python -m bench.bench_warm --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench import http_e2e, provision, servers

_NO_WARM_UP = """
import runpy
globals().update({{k: v for k, v in runpy.run_path({shipped!r}).items() if not k.startswith("__")}})


def post_worker_init(worker):  # the shipped hook without its warm-up
    import gc

    gc.collect()
    gc.freeze()
"""


def _variant(config: Path, postgres_url: str, work: Path, *, rounds: int, requests: int,
             concurrency: int) -> list[dict[str, Any]]:
    with servers.scratch_postgres(postgres_url) as url:
        env = provision.environment(data_dir=work / config.stem, database_url=url)
        body, placeholders, headers = http_e2e.prepared(env, work)
        out = []
        with servers.gunicorn_process(env, log=work / f"{config.stem}.log", config=config) as (base, _):
            url_submit = base + http_e2e.SUBMIT_PATH
            http_e2e.warm_workers(base, body, headers, placeholders)  # as the http section
            for _ in range(rounds):
                load = os.getloadavg()[0]
                got = http_e2e._loadgen(url_submit, body, headers=headers, placeholders=placeholders,
                                        concurrency=concurrency, requests=requests, seconds=60,
                                        patient=http_e2e.EXAMPLE_PATIENT)
                out.append({"per_second": round(got["per_second"], 1), "p99_ms": round(got["p99_ms"], 1),
                            "max_ms": round(got["max_ms"], 1), "status_codes": got["status_codes"],
                            "loadavg_at_start": round(load, 2)})
    return out


def run(postgres_url: str, *, rounds: int = 4, requests: int = 400, concurrency: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lisn-bench-warm-") as tmp:
        work = Path(tmp)
        provision.check_available()
        cold = work / "no-warm-up.conf.py"
        cold.write_text(_NO_WARM_UP.format(shipped=str(http_e2e.SHIPPED_CONFIG)), encoding="utf-8")
        result: dict[str, Any] = {"status": "ok", "rounds": rounds, "requests": requests, "concurrency": concurrency}
        result["shipped (warm-up)"] = _variant(http_e2e.SHIPPED_CONFIG, postgres_url, work, rounds=rounds,
                                               requests=requests, concurrency=concurrency)
        result["no warm-up (baseline)"] = _variant(cold, postgres_url, work, rounds=rounds, requests=requests,
                                                   concurrency=concurrency)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postgres-url", required=True)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=4)
    ns = ap.parse_args()
    result = run(ns.postgres_url, rounds=ns.rounds, requests=ns.requests, concurrency=ns.concurrency)
    print(f"first requests of fresh workers, PostgreSQL, concurrency {ns.concurrency}, {ns.requests} submissions a round")
    for name in ("shipped (warm-up)", "no warm-up (baseline)"):
        for i, r in enumerate(result[name], 1):
            print(f"  {name:<22} round {i}  {r['per_second']:7.1f}/s  p99 {r['p99_ms']:7.1f} ms  "
                  f"slowest {r['max_ms']:7.1f} ms  load {r['loadavg_at_start']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
