"""Timing helpers: repeat a call within a budget, summarise latencies."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation, of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarise(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    """Rate and latency percentiles (milliseconds) of a series of timed calls."""
    ordered = sorted(latencies_s)
    n = len(ordered)
    return {
        "n": n,
        "per_second": n / wall_s if wall_s > 0 else float("nan"),
        "mean_ms": statistics.fmean(ordered) * 1000 if n else float("nan"),
        "min_ms": ordered[0] * 1000 if n else float("nan"),
        "p50_ms": percentile(ordered, 50) * 1000,
        "p95_ms": percentile(ordered, 95) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000 if n else float("nan"),
    }


def measure(call: Callable[[], Any], *, min_runs: int, budget_s: float, warmup: int = 3) -> dict[str, float]:
    """Call ``call`` at least ``min_runs`` times and until ``budget_s`` has passed; summarise.

    Besides wall-clock latencies, ``cpu_min_ms`` is the least CPU time of this process for one
    call: other processes on the machine change the wall clock far more than the CPU time."""
    for _ in range(warmup):
        call()
    latencies: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(latencies) < min_runs or time.perf_counter() - start < budget_s:
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        cpu.append(time.process_time() - c0)
        latencies.append(time.perf_counter() - t0)
    return {**summarise(latencies, time.perf_counter() - start), "cpu_min_ms": min(cpu) * 1000}


def ratio(subject: dict[str, float], baseline: dict[str, float]) -> float:
    """How many times faster (>1) or slower (<1) ``subject`` runs than ``baseline``, by mean latency."""
    return baseline["mean_ms"] / subject["mean_ms"] if subject["mean_ms"] else float("nan")
