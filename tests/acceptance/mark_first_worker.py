"""NEGATIVE CONTROL, tests only: a worker whose relay marks a message delivered *before* sending it.

Run by the chaos test in place of ``adapter worker`` to show that the test can fail: a crash
(or a failed request) between the mark and the send loses the certificate.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from adapter import wiring
from adapter.delivery.loop import run_loop
from adapter.delivery.model import Claimed, Outcome, Receipt, Recipient
from adapter.delivery.relay import Relay, RunStats
from adapter.settings import Settings


class MarkFirstRelay(Relay):
    """The wrong order: mark, then send; whatever the answer, the message counts as delivered."""

    def _push(self, msg: Claimed, recipient: Recipient, stats: RunStats) -> None:
        self.store.mark_delivered(msg, Receipt(Outcome.ACCEPTED, None, "marked before sending"), now=self.clock.now())
        self.send(msg, recipient)
        stats.delivered += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=Path, required=True)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()
    settings = Settings.from_env()
    good = wiring.build_relay(settings, wiring.open_store(settings), recipients_file=args.recipients,
                              batch=args.batch)
    relay = MarkFirstRelay(good.store, good.transport, settings=good.settings, owner=good.owner, batch=good.batch)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_loop(relay, stop=stop, poll_interval=args.poll)


if __name__ == "__main__":
    main()
