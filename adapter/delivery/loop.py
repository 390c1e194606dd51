"""Run a relay until told to stop: poll when idle, never busy-wait, stop between messages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from adapter.delivery.relay import Relay, RunStats

log = logging.getLogger(__name__)


def run_loop(relay: Relay, *, stop: threading.Event, poll_interval: float = 1.0,
             max_passes: int | None = None,
             on_pass: Callable[[RunStats], None] | None = None) -> int:
    """Run passes until ``stop`` is set (SIGTERM handler, app shutdown) or ``max_passes``.

    Returns the number of passes. When a pass found work the next one starts at once;
    otherwise it waits ``poll_interval`` (and wakes early on ``stop``). A pass starts pushes in the
    relay's lanes without waiting for them (:meth:`Relay.step`), so a slow municipality never holds
    up the next claim for the others; on the way out the pushes in flight are finished. A pass that fails as a
    whole (the database is away) is logged by type and retried after ``poll_interval``: the
    outbox is durable, so waiting loses nothing, while exiting would need a supervisor.
    """
    passes = 0
    try:
        while not stop.is_set() and (max_passes is None or passes < max_passes):
            passes += 1
            try:
                # A bounded run (--once, cron, tests) reports complete passes; the service loop does not wait.
                stats = relay.run_once() if max_passes is not None else relay.step()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.error("relay pass failed: %s", type(exc).__name__)
                stop.wait(poll_interval)
                continue
            if on_pass is not None:
                on_pass(stats)
            if stats.claimed == 0:
                stop.wait(poll_interval)
    finally:
        relay.drain()
    return passes
