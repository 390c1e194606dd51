"""``python -m bench [--quick] [--out results.json] [--only SECTION]...``

Runs the sections in order and prints a short table; ``--out`` also writes the full
JSON. ``--quick`` keeps every section to a few seconds (CI runs it through
``tests/abuse/test_bench_quick.py``); the full form is what ``docs/performance.md`` reports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import growth, micro

SECTIONS = ("validation", "transform_sign", "http", "growth", "cli")


def machine() -> dict[str, Any]:
    import os

    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    # Other work on the machine skews every figure: the load average at the start is recorded.
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_at_start": list(os.getloadavg())}


def _http(*, quick: bool, postgres_url: str | None) -> dict[str, Any]:
    from bench import http_e2e

    return http_e2e.http(quick=quick, postgres_url=postgres_url)


def _cli(*, quick: bool) -> dict[str, Any]:
    from bench import bench_cli

    return bench_cli.run(quick=quick)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run (CI); a few minutes at most on 2 cores")
    ap.add_argument("--out", type=Path, help="write the full results as JSON here")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    ap.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="an admin connection; a scratch database is created beside it and dropped after")
    ns = ap.parse_args(argv)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "validation": lambda: micro.validation(quick=ns.quick),
        "transform_sign": lambda: micro.transform_sign(quick=ns.quick),
        "http": lambda: _http(quick=ns.quick, postgres_url=ns.postgres_url or None),
        "growth": lambda: growth.growth(quick=ns.quick),
        "cli": lambda: _cli(quick=ns.quick),
    }
    results: dict[str, Any] = {"quick": ns.quick, "machine": machine(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name in ns.only or SECTIONS:
        t0 = time.perf_counter()
        results[name] = runners[name]()
        results[name]["section_seconds"] = time.perf_counter() - t0
        print(f"[bench] {name} done in {results[name]['section_seconds']:.1f} s", file=sys.stderr)
    from bench import report

    print(report.table(results))
    if ns.out:
        ns.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
