"""Retry delays: exponential backoff with full jitter.

Full jitter (a uniform delay in ``[0, min(cap, base * 2**(n-1))]``) spreads the
retries of many messages that failed together, so a recovering municipality is
not hit by all of them in the same second (AWS Architecture Blog, "Exponential
Backoff and Jitter", 2015). ``rand`` is injected so tests are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    # Bound the exponent: 2**1100 overflows a float long before the cap matters.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 60))
    return ceiling * rand()
