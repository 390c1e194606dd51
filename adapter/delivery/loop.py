"""Run a relay until told to stop: poll when idle, never busy-wait, stop between messages."""

from __future__ import annotations

import threading
from typing import Callable

from adapter.delivery.relay import Relay, RunStats


def run_loop(relay: Relay, *, stop: threading.Event, poll_interval: float = 1.0,
             max_passes: int | None = None,
             on_pass: Callable[[RunStats], None] | None = None) -> int:
    """Run passes until ``stop`` is set (SIGTERM handler, app shutdown) or ``max_passes``.

    Returns the number of passes. When a pass found work the next one starts at once;
    otherwise it waits ``poll_interval`` (and wakes early on ``stop``).
    """
    passes = 0
    while not stop.is_set() and (max_passes is None or passes < max_passes):
        stats = relay.run_once()
        passes += 1
        if on_pass is not None:
            on_pass(stats)
        if stats.claimed == 0:
            stop.wait(poll_interval)
    return passes
