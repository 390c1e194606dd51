"""The idempotency key of a delivery: the same on every attempt, different per recipient and kind.

Derived, not random, so that a crash between enqueue and commit, a re-enqueue or a
reprocessed submission all produce the same key and the recipient can dedupe on it.
"""

from __future__ import annotations

import uuid

# A fixed namespace of our own, so our keys never collide with other uuid5 users.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lisn.se/fhir/delivery")


def idempotency_key(certificate_id: str, kommunkod: str, kind: str = "certificate", *, care_unit: str) -> str:
    """A UUID (RFC 4122 v5) over issuing care unit, certificate id, recipient kommunkod and message kind.

    A certificate is known by its issuing care unit (HSA-id) and its id together: two care units'
    certificates under one id are two certificates, with two keys (issue 13)."""
    cert = certificate_id.removeprefix("urn:uuid:")
    return str(uuid.uuid5(_NAMESPACE, f"{care_unit}|{cert}|{kommunkod}|{kind}"))
