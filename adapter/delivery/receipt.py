"""The application-level receipt a recipient answers a push with, and how we read it.

A push is ``POST <endpoint>`` with the signed XML (``application/xml``) and the
headers ``Idempotency-Key``, ``X-LISN-Certificate-Id``, ``X-LISN-Kind`` and
``X-LISN-Attempt``. The recipient answers with ``application/json``::

    {"idempotencyKey": "<the key>", "status": "accepted" | "rejected",
     "reason": "<why, when rejected>", "receivedAt": "<ISO 8601>"}

Delivered only on HTTP 200/201 with status ``accepted`` naming our key (a repeat of an
already stored key is also ``accepted``: the recipient dedupes). ``rejected`` with a 4xx
is terminal (bad signature, schema). Anything else -- no answer, 5xx, 408, 425, 429, or
an answer we cannot read -- is retried, because we cannot know the document arrived.
"""

from __future__ import annotations

import json
from typing import Any

from adapter.delivery.model import Outcome, Receipt

RETRYABLE_4XX = frozenset({408, 409, 425, 429})
MAX_KEPT = 2000  # characters of a receipt kept with the attempt


def build_receipt(key: str, status: str, *, reason: str = "", received_at: str = "") -> dict[str, Any]:
    """The receipt body a recipient sends (used by the reference receiver)."""
    body: dict[str, Any] = {"idempotencyKey": key, "status": status}
    if reason:
        body["reason"] = reason
    if received_at:
        body["receivedAt"] = received_at
    return body


def read_receipt(status: int, body: bytes, *, key: str) -> Receipt:
    """Decide what an HTTP answer to a push means."""
    text = body[:MAX_KEPT].decode("utf-8", "replace")
    parsed = _parse(body)
    said = parsed.get("status") if parsed.get("idempotencyKey") == key else None
    if status in (200, 201) and said == "accepted":
        return Receipt(Outcome.ACCEPTED, status, "", text)
    if 400 <= status < 500 and status not in RETRYABLE_4XX and said == "rejected":
        return Receipt(Outcome.REJECTED, status, str(parsed.get("reason") or "rejected")[:500], text)
    return Receipt(Outcome.RETRY, status, _retry_reason(status, parsed, said), text)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body[:65536])
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _retry_reason(status: int, parsed: dict[str, Any], said: Any) -> str:
    if not parsed:
        return f"HTTP {status} without a readable receipt"
    if said is None:
        return f"HTTP {status} with a receipt for another key"
    return f"HTTP {status}, receipt status {said!s:.40}"
