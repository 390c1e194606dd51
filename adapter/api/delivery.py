"""Pull delivery for municipalities, under ``/municipal`` (issue 7, item 3).

A client with role ``municipality`` sees only what is addressed to its kommunkod:

* ``GET  /municipal/certificates``: the messages not yet acknowledged (JSON; ids, kinds, states);
* ``GET  /municipal/certificates/<id>``: the signed municipal XML (``application/xml``);
* ``POST /municipal/certificates/<id>/$acknowledge``: done; it leaves the list.

Unacknowledged messages stay listed, so a municipality that crashes after fetching simply
fetches again. Every list, fetch and acknowledgement writes one audit row in the same
transaction. The paths are outside ``/fhir`` because the payload is the municipal XML, not
a FHIR resource; errors are OperationOutcomes as everywhere.

:func:`start_in_process_relay` runs the outbox relay as a thread of the web service, for the
embedded default (``adapter serve`` calls it when ``ADAPTER_DELIVERY_RUN_IN_PROCESS=1``).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy.orm import Session, sessionmaker

from adapter import errors, messages
from adapter.api.auth import current_client, end_user, require_role
from adapter.api.service import service
from adapter.delivery.http import HttpTransport
from adapter.delivery.loop import run_loop
from adapter.delivery.relay import Relay
from adapter.settings import Settings
from adapter.store import audit, outbox
from adapter.store.models import Submission

bp = Blueprint("delivery", __name__, url_prefix="/municipal")

PURPOSE = "ekonomiskt-bistand"


def _kommunkod() -> str:
    kommunkod = current_client().kommunkod
    if not kommunkod:
        mid = "LISN_DELIVERY_NO_KOMMUNKOD"
        raise errors.Forbidden(messages.bilingual(mid), message_id=mid)
    return kommunkod


def _audit(session: Session, action: str, outcome: str, *, submission_id: str | None = None,
           certificate: str | None = None) -> None:
    sub = session.get(Submission, submission_id) if submission_id else None
    audit.record(session, actor=current_client().name, end_user=end_user(), action=action,
                 patient=sub.patient_value if sub else None, certificate=certificate, outcome=outcome,
                 purpose=PURPOSE, at=service().clock.now())


def _not_addressed(message_id: str) -> errors.NotFound:
    # The same answer whether it does not exist or belongs to another municipality: no probing.
    mid = "LISN_DELIVERY_NOT_ADDRESSED"
    return errors.NotFound(messages.bilingual(mid, id=message_id), message_id=mid)


@bp.get("/certificates")
@require_role("municipality")
def list_certificates() -> Any:
    kommunkod = _kommunkod()
    with service().transaction() as session:
        items = outbox.list_for_pull(session, kommunkod)
        _audit(session, "delivery-list", "ok")
    return jsonify({"kommunkod": kommunkod, "certificates": [_public(i) for i in items]})


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "certificateId": item["certificateId"], "kind": item["kind"],
            "state": item["state"], "queuedAt": _iso(item["createdAt"]),
            "links": {"document": f"certificates/{item['id']}",
                      "acknowledge": f"certificates/{item['id']}/$acknowledge"}}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@bp.get("/certificates/<message_id>")
@require_role("municipality")
def fetch_certificate(message_id: str) -> Response:
    kommunkod = _kommunkod()
    with service().transaction() as session:
        row = outbox.fetch_for_pull(session, kommunkod, message_id)
        if row is None:
            _audit(session, "delivery-fetch", "not-found")  # committed: refused reads are logged too
        else:
            _audit(session, "delivery-fetch", "ok", submission_id=row.submission_id, certificate=row.certificate_id)
    if row is None:
        raise _not_addressed(message_id)
    document, kind = row.document, row.kind
    return Response(document, 200, content_type="application/xml",
                    headers={"Idempotency-Key": message_id, "X-LISN-Kind": kind})


@bp.post("/certificates/<message_id>/$acknowledge")
@require_role("municipality")
def acknowledge(message_id: str) -> Any:
    kommunkod = _kommunkod()
    with service().transaction() as session:
        row = outbox.fetch_for_pull(session, kommunkod, message_id)
        state = outbox.acknowledge(session, kommunkod, message_id, now=service().clock.now().timestamp())
        _audit(session, "delivery-acknowledge", state or "not-found",
               submission_id=row.submission_id if row else None, certificate=row.certificate_id if row else None)
    if state is None:
        raise _not_addressed(message_id)
    if state not in ("acknowledged", "delivered"):
        mid = "LISN_DELIVERY_NOT_AVAILABLE"
        raise errors.Conflict(messages.bilingual(mid, id=message_id, state=state), message_id=mid)
    return jsonify({"id": message_id, "state": state})


def start_in_process_relay(app_settings: Settings, sessions: sessionmaker[Session], *,
                           poll_interval: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    """Run the relay as a daemon thread of this process (embedded default); set the event to stop it."""
    engine = sessions.kw["bind"]
    store = outbox.SqlOutboxStore(engine, recipients=outbox.registry_recipients(engine))
    transport = HttpTransport(connect_timeout=app_settings.delivery.connect_timeout,
                              read_timeout=app_settings.delivery.read_timeout)
    owner = f"{socket.gethostname()}:{os.getpid()}:in-process:{uuid.uuid4().hex[:8]}"
    relay = Relay(store, transport, settings=app_settings.delivery, owner=owner)
    stop = threading.Event()
    thread = threading.Thread(target=run_loop, args=(relay,), name="lisn-relay", daemon=True,
                              kwargs={"stop": stop, "poll_interval": poll_interval})
    thread.start()
    return thread, stop
