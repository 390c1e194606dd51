"""In-memory fakes for tests and tools: a fixed clock (the delivery adds ``MockTransport``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


@dataclass
class FixedClock:
    """A clock that stands still until told to move."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


# The delivery's fake Transport (``MockTransport(handler)``, handler: Envelope -> Receipt).
from adapter.delivery.mock import MockTransport, accept_all  # noqa: E402,F401
