"""The few calls a fault run makes to the service over HTTP (127.0.0.1 only)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": FHIR_JSON})

    def _answer(self, resp: requests.Response) -> Answer:
        try:
            body = resp.json()
        except ValueError:
            body = {"raw": resp.text[:200]}
        return Answer(resp.status_code, body)

    def submit(self, body: bytes) -> Answer:
        return self._answer(self.http.post(f"{self.base}/fhir/$process-message", data=body,
                                           headers={"Content-Type": FHIR_JSON}, timeout=60))

    def revoke_consent(self, consent_id: str) -> Answer:
        return self._answer(_retried(lambda: self.http.post(
            f"{self.base}/fhir/Consent/{consent_id}/$revoke", data=json.dumps({"resourceType": "Parameters"}),
            headers={"Content-Type": FHIR_JSON}, timeout=60)))

    def close(self) -> None:
        self.http.close()

    def consent_ids(self, patient_value: str) -> list[str]:
        resp = _retried(lambda: self.http.get(f"{self.base}/fhir/Consent", params={"patient": patient_value},
                                              timeout=60))
        resp.raise_for_status()
        return [e["resource"]["id"] for e in resp.json().get("entry", [])
                if e["resource"].get("status") == "active"]

    def revoke_patient(self, patient_value: str) -> list[int]:
        """Revoke every active consent of the patient (the service gives consents ids of its own)."""
        return [self.revoke_consent(cid).status for cid in self.consent_ids(patient_value)]


def _retried(call: Callable[[], requests.Response], tries: int = 10, pause: float = 0.3) -> requests.Response:
    """``call`` again while the service answers 5xx, as an admin client does: a request whose
    database connection the run cut fails with a retryable 503 (docs/reliability.md). The last
    answer is returned as it is, whatever it is."""
    resp = call()
    for _ in range(tries):
        if resp.status_code < 500:
            break
        time.sleep(pause)
        resp = call()
    return resp
