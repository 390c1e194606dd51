"""Pull delivery for municipalities, under ``/municipal`` (issue 7, item 3); the rules are in
:mod:`adapter.flows.pull`.

A client with role ``municipality`` sees only what is addressed to its kommunkod:

* ``GET  /municipal/certificates``: the messages not yet acknowledged (JSON; ids, kinds, states);
* ``GET  /municipal/certificates/<id>``: the signed municipal XML (``application/xml``);
* ``POST /municipal/certificates/<id>/$acknowledge``: done; it leaves the list.

The paths are outside ``/fhir`` because the payload is the municipal XML, not a FHIR resource;
errors are OperationOutcomes as everywhere.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from adapter import errors
from adapter.api.auth import require_role
from adapter.api.http import error_response
from adapter.api.service import run
from adapter.flows import pull

bp = Blueprint("delivery", __name__, url_prefix="/municipal")


@bp.get("/certificates")
@require_role("municipality")
def list_certificates() -> Any:
    return jsonify(run(pull.list_available))


@bp.get("/certificates/<message_id>")
@require_role("municipality")
def fetch_certificate(message_id: str) -> Response:
    found = run(lambda ctx: pull.fetch(message_id, ctx))
    if isinstance(found, errors.AdapterError):
        return error_response(found)
    return Response(found.document, 200, content_type="application/xml",
                    headers={"Idempotency-Key": found.key, "X-LISN-Kind": found.kind})


@bp.post("/certificates/<message_id>/$acknowledge")
@require_role("municipality")
def acknowledge(message_id: str) -> Any:
    done = run(lambda ctx: pull.acknowledge(message_id, ctx))
    return error_response(done) if isinstance(done, errors.AdapterError) else jsonify(done)
