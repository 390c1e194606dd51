"""A closed-loop HTTP load generator, run as its own process: ``python -m bench.loadgen``.

Each of ``--concurrency`` clients holds one keep-alive connection to 127.0.0.1 and
posts the body again as soon as the answer arrives. Every request carries a distinct
certificate id (the template's id is replaced by a fresh UUID), so the service does
real work instead of answering from its idempotency store. The run is bounded by
``--requests`` and ``--seconds``, whichever comes first. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import random
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from bench import stats

MAX_PROCESSES = 4  # clients are spread over processes so the generator is not bound by one GIL


def synthetic_personnummer(rng: random.Random) -> str:
    """A synthetic person: a valid 12-digit personnummer (date, birth number 980-999, Luhn digit)."""
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
    body = f"{born:%Y%m%d}{rng.randrange(980, 1000)}"
    return body + luhn_digit(body[2:])


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (1 if i % 2 else 2)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _client(url: str, body: bytes | None, placeholders: list[bytes], headers: dict[str, str],
            quota: int, deadline: float, out: list[tuple[float, float, int]], patient: bytes | None = None) -> None:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load generator only sends to 127.0.0.1")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    rng = random.Random()
    for _ in range(quota):
        if time.monotonic() > deadline:
            break
        payload = body
        for ph in placeholders:
            payload = payload.replace(ph, str(uuid.uuid4()).encode()) if payload is not None else None
        if patient and payload is not None:
            payload = payload.replace(patient, synthetic_personnummer(rng).encode())
        t0 = time.perf_counter()
        try:
            conn.request("GET" if payload is None else "POST", parts.path, body=payload, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            status = 0
        t1 = time.perf_counter()
        out.append((t0, t1, status))
    conn.close()


def _process(args: tuple[Any, ...]) -> list[tuple[float, float, int]]:
    url, body, placeholders, headers, threads, quota, deadline, patient = args
    results: list[tuple[float, float, int]] = []
    workers = [threading.Thread(target=_client, args=(url, body, placeholders, headers, quota, deadline, results,
                                                      patient))
               for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


def run(url: str, body: bytes | None, *, placeholders: list[bytes], headers: dict[str, str], concurrency: int,
        requests: int, seconds: float, patient: bytes | None = None) -> dict[str, Any]:
    processes = min(concurrency, MAX_PROCESSES)
    threads = math.ceil(concurrency / processes)
    quota = math.ceil(requests / (processes * threads))
    deadline = time.monotonic() + seconds
    with mp.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_process, [(url, body, placeholders, headers, threads, quota, deadline, patient)] * processes)
    results = [r for part in parts for r in part]
    # The rate counts from the first request sent to the last answer received (perf_counter is
    # CLOCK_MONOTONIC on Linux, shared by the processes), not the pool's start-up.
    wall = max(r[1] for r in results) - min(r[0] for r in results) if results else float("nan")
    codes = Counter(str(status) for _, _, status in results)
    ok = [end - start for start, end, status in results if 200 <= status < 300]
    summary = stats.summarise(ok, wall)
    return {"concurrency": processes * threads, "requests": len(results), "ok": len(ok),
            "status_codes": dict(codes), "wall_s": wall, **summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True, help="file with the request body")
    ap.add_argument("--placeholder", action="append", default=[], help="text replaced by a new UUID per request")
    ap.add_argument("--header", action="append", default=[], help="Name: value")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--patient", help="text replaced by a new synthetic personnummer per request (a patient each)")
    ap.add_argument("--get", action="store_true", help="send GET without a body (the baseline)")
    ns = ap.parse_args(argv)
    with open(ns.body, "rb") as fh:
        body = fh.read()
    headers = dict(h.split(": ", 1) for h in ns.header)
    result = run(ns.url, None if ns.get else body, placeholders=[p.encode() for p in ns.placeholder], headers=headers,
                 concurrency=ns.concurrency, requests=ns.requests, seconds=ns.seconds,
                 patient=ns.patient.encode() if ns.patient else None)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
