"""Keys for the signing tests, generated once per session into a temporary folder (never committed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from adapter.outbound import render_municipal_xml
from adapter.signing.keys import PrivateKey, make_ca, make_signing_cert, new_key

EXAMPLE = Path(__file__).resolve().parents[3] / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


@dataclass(frozen=True)
class KeySet:
    algorithm: str
    """rsa-sha256 or ecdsa-sha256"""
    ca_key: PrivateKey
    ca: x509.Certificate
    key: PrivateKey
    cert: x509.Certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.cert, self.ca]


def make_keyset(kind: str, *, not_before: datetime | None = None, days: int = 825) -> KeySet:
    ca_key, key = new_key(kind), new_key(kind)
    ca = make_ca(ca_key, not_before=not_before)
    cert = make_signing_cert(key, ca_key, ca, not_before=not_before, days=days)
    return KeySet("rsa-sha256" if kind == "rsa" else "ecdsa-sha256", ca_key, ca, key, cert)


@pytest.fixture(scope="session")
def rsa_keys() -> KeySet:
    return make_keyset("rsa")


@pytest.fixture(scope="session")
def ec_keys() -> KeySet:
    return make_keyset("ecdsa")


@pytest.fixture(scope="session", params=["rsa", "ecdsa"])
def keys(request: pytest.FixtureRequest, rsa_keys: KeySet, ec_keys: KeySet) -> KeySet:
    return rsa_keys if request.param == "rsa" else ec_keys


@pytest.fixture(scope="session")
def expired_keys() -> KeySet:
    return make_keyset("ecdsa", not_before=datetime.now(UTC) - timedelta(days=400), days=30)


@pytest.fixture(scope="session")
def example_bundle() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def example_xml(example_bundle: dict) -> bytes:
    return render_municipal_xml(example_bundle)
