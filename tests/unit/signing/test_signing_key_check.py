"""The signing key's check (type, algorithm, certificate match) is remembered per thread for the
same key and certificate objects (issue 15 target 6): it must never let a mismatch through."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from adapter import errors
from adapter.signing import sign_document, verify_document, xmldsig
from tests.unit.signing.conftest import KeySet


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full checks (one call of _same_public_key each); forgets the remembered one."""
    calls: list[int] = []
    real = xmldsig._same_public_key

    def same(public: object, private: Any) -> bool:
        calls.append(1)
        return real(public, private)
    monkeypatch.setattr(xmldsig, "_same_public_key", same)
    monkeypatch.setattr(xmldsig, "_CHECKED", threading.local())
    return calls


def test_the_check_is_made_once_for_the_same_key_and_chain(keys: KeySet, example_xml: bytes,
                                                           counted: list[int]) -> None:
    for _ in range(3):
        signed = sign_document(example_xml, key=keys.key, cert_chain=keys.chain, algorithm=keys.algorithm)
        assert verify_document(signed, trust=[keys.ca]).ok
    assert len(counted) == 1
    # an equal but new chain list of the same certificate objects is the same chain
    sign_document(example_xml, key=keys.key, cert_chain=list(keys.chain), algorithm=keys.algorithm)
    assert len(counted) == 1


def test_a_mismatch_after_a_pass_is_still_refused(rsa_keys: KeySet, ec_keys: KeySet, example_xml: bytes,
                                                   counted: list[int]) -> None:
    from tests.unit.signing.conftest import make_keyset
    other = make_keyset("rsa")
    sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain, algorithm="rsa-sha256")
    refused: list[tuple[Any, list[Any], str]] = [
        (other.key, rsa_keys.chain, "rsa-sha256"),  # another key, same chain
        (rsa_keys.key, other.chain, "rsa-sha256"),  # same key, another chain
        (rsa_keys.key, [rsa_keys.ca, rsa_keys.cert], "rsa-sha256"),  # order
        (rsa_keys.key, rsa_keys.chain, "ecdsa-sha256"),  # another algorithm
        (rsa_keys.key, [], "rsa-sha256"),
        (ec_keys.key, rsa_keys.chain, "ecdsa-sha256"),
    ]
    for key, chain, algorithm in refused:
        for _ in range(2):  # a failed check is not remembered either
            with pytest.raises(errors.SigningError) as exc:
                sign_document(example_xml, key=key, cert_chain=chain, algorithm=algorithm)
            assert exc.value.message_id == "LISN_SIG_KEY_MISMATCH"
    # and the key that passed still signs
    signed = sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain, algorithm="rsa-sha256")
    assert verify_document(signed, trust=[rsa_keys.ca]).ok


def test_each_thread_checks_for_itself(rsa_keys: KeySet, example_xml: bytes, counted: list[int]) -> None:
    sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain, algorithm="rsa-sha256")
    worker = threading.Thread(target=lambda: sign_document(example_xml, key=rsa_keys.key,
                                                           cert_chain=rsa_keys.chain, algorithm="rsa-sha256"))
    worker.start()
    worker.join()
    assert len(counted) == 2
