"""Running a pipeline function in one transaction, with the request's client and end user."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError, OperationalError

from adapter.api.auth import current_client, end_user
from adapter.api.service import service
from adapter.store.flow import Answer, Context

log = logging.getLogger(__name__)
ATTEMPTS = 3


def run(step: Callable[[Context], Answer]) -> Answer:
    """``step(ctx)`` in a fresh transaction; retried when a concurrent request won a race
    (the same certificate at once: the retry then finds it and answers as for a repeat)."""
    svc = service()
    client = current_client()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with svc.transaction() as session:
                return step(svc.context(session, client, end_user=end_user()))
        except (IntegrityError, OperationalError) as exc:
            if attempt == ATTEMPTS or (isinstance(exc, OperationalError) and not _retryable(exc)):
                raise
            log.info("retrying after a concurrent write (%s), attempt %d", type(exc.orig).__name__, attempt)
    raise AssertionError("unreachable")


def _retryable(exc: OperationalError) -> bool:
    # PostgreSQL serialization failure / deadlock; SQLite "database is locked" after the busy timeout.
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "locked" in str(exc.orig)
