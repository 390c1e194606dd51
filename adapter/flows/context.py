"""What every use case runs with: the service (built once), the request's context, the audit row.

:func:`run` is how a face calls a use case: a fresh transaction for each call, retried when a
concurrent transaction won a race (the same certificate at once: the retry then finds it and
answers as for a repeat). A use case answers with a :data:`Result`: the resource, or the
:class:`~adapter.errors.AdapterError` that refuses the request. Refusals that concern a patient
are *returned*, not raised, so that their audit row commits with the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adapter import errors
from adapter.clock import Clock, SystemClock
from adapter.errors import OperationOutcome
from adapter.fhir.registry import Registry
from adapter.flows.ports import AuditEvent, ClientInfo, StatusStep, Store, Tx, WriteConflict
from adapter.settings import Settings

log = logging.getLogger(__name__)

Resource = dict[str, Any]
Result = Resource | errors.AdapterError
"""A use case's answer: the resource, or the refusal (returned so that its audit row commits)."""
T = TypeVar("T")

PURPOSE = "ekonomiskt-bistand"
"""Why patient data is processed at all (every audit row says it): economic assistance."""
ATTEMPTS = 3
DEFAULT_BASE_URL = "http://localhost:8080/fhir"


@dataclass(frozen=True)
class Stages:
    """The pure stages the flows call (injected, so tests and tools can replace them)."""

    validate: Callable[[Resource, Registry], OperationOutcome]
    map_export: Callable[[bytes, str, dict[str, str]], Resource]
    """``(export, format, side inputs) -> submission Bundle``."""
    render: Callable[..., bytes]
    sign: Callable[[bytes], bytes]


@dataclass
class Service:
    """Everything the use cases need beyond one request; built once by ``adapter.wiring``."""

    settings: Settings
    store: Store
    registry: Registry
    stages: Stages
    clock: Clock = field(default_factory=SystemClock)
    pepper: bytes = b""
    """The server secret API tokens are keyed with."""

    @property
    def base_url(self) -> str:
        """The public base URL of the FHIR API, without a trailing slash."""
        return (self.settings.service.base_url or DEFAULT_BASE_URL).rstrip("/")


@dataclass(frozen=True)
class Context:
    """One call of a use case: the service, its transaction, and who is asking."""

    service: Service
    tx: Tx
    client: ClientInfo
    end_user: str | None = None

    @property
    def settings(self) -> Settings:
        return self.service.settings

    @property
    def registry(self) -> Registry:
        return self.service.registry

    @property
    def stages(self) -> Stages:
        return self.service.stages

    @property
    def clock(self) -> Clock:
        return self.service.clock

    @property
    def base_url(self) -> str:
        return self.service.base_url


def run(service: Service, client: ClientInfo, step: Callable[[Context], T], *, end_user: str | None = None) -> T:
    """``step(ctx)`` in a fresh transaction, run again when a concurrent write won a race."""
    return in_transaction(service.store, lambda tx: step(Context(service, tx, client, end_user)))


def in_transaction(store: Store, work: Callable[[Tx], T]) -> T:
    """``work(tx)`` in a fresh transaction of ``store``, run again when a concurrent write won a race
    (a lock timeout, a serialization failure); a race lost every time is
    :class:`~adapter.errors.StoreUnavailable` (503, retry later), never an unknown error (500)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with store.transaction() as tx:
                return work(tx)
        except WriteConflict as exc:
            if attempt == ATTEMPTS:
                if exc.transient:
                    raise errors.StoreUnavailable() from exc
                raise
            log.info("retrying after a concurrent write, attempt %d", attempt)
    raise AssertionError("unreachable")


def audit(ctx: Context, *, action: str, outcome: str, patient: str | None = None,
          certificate: str | None = None) -> None:
    """One audit row for this request, in its transaction."""
    ctx.tx.audit(AuditEvent(at=ctx.clock.now(), actor=ctx.client.name, end_user=ctx.end_user, action=action,
                            outcome=outcome, patient=patient, certificate=certificate, purpose=PURPOSE))


def refuse(ctx: Context, error: errors.AdapterError, *, action: str, patient: str | None,
           certificate: str | None = None, outcome: str = "forbidden") -> errors.AdapterError:
    """Audit a refusal and return it (returned, not raised, so that the audit row commits)."""
    audit(ctx, action=action, outcome=outcome, patient=patient, certificate=certificate)
    return error


def step(ctx: Context, submission_id: str, status: str, reason: str | None = None, *,
         reason_id: str | None = None) -> None:
    """Record a step on the submission's Task history (none for a queue filled by hand, which has no submission)."""
    if ctx.tx.submission(submission_id) is not None:
        ctx.tx.add_step(submission_id, StatusStep(status, ctx.clock.now(), reason=reason, reason_id=reason_id))
