"""The real stages behind :class:`adapter.store.flow.Stages`, and the signing keys.

Signing keys come from ``ADAPTER_SIGNING_KEY_PATH`` / ``ADAPTER_SIGNING_CERT_PATH``; without
them, development keys (a test CA that says NOT FOR PRODUCTION) are generated once into
``<data_dir>/keys`` and a warning is logged.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from adapter.fhir.registry import Registry
from adapter.settings import Settings
from adapter.store.flow import Stages

log = logging.getLogger(__name__)


def signing_paths(settings: Settings) -> tuple[Path, Path]:
    """(key, certificate chain) paths, generating development keys when none are configured."""
    signing = settings.signing
    if signing.key_path and signing.cert_path:
        return Path(signing.key_path), Path(signing.cert_path)
    from adapter.signing.keys import init_dev_keys

    folder = Path(settings.database.data_dir) / "keys"
    key, cert = folder / "signing-key.pem", folder / "signing-cert.pem"
    if not (key.exists() and cert.exists()):
        # Several workers may start at once: each writes a complete pair aside, one rename wins.
        scratch = folder.with_name(f"keys.{os.getpid()}.{secrets.token_hex(4)}")
        init_dev_keys(scratch)
        try:
            os.rename(scratch, folder)
            log.warning("no signing key configured: generated DEVELOPMENT keys in %s (not for production)", folder)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
    return key, cert


def _signer(settings: Settings) -> Any:
    from adapter.signing.keys import load_certificates, load_key
    from adapter.signing.xmldsig import sign_document

    key_path, cert_path = signing_paths(settings)
    key = load_key(key_path, settings.signing.key_passphrase)
    chain = load_certificates(cert_path)

    def sign(xml: bytes) -> bytes:
        return sign_document(xml, key=key, cert_chain=chain, algorithm=settings.signing.algorithm,
                             xades=settings.signing.xades)
    return sign


def default_stages(settings: Settings, registry: Registry) -> Stages:
    """The stage functions of this installation (imported here so the flow stays injectable)."""
    from adapter.inbound import map_export
    from adapter.outbound import render_municipal_xml
    from adapter.validation import validate

    def export(raw: bytes, fmt: str, inputs: dict[str, str] | None = None) -> dict[str, Any]:
        bundle, _report = map_export(raw, fmt, registry=registry, limits=settings.limits, xml=settings.xml,
                                     inputs=inputs)
        return bundle

    def check(resource: dict[str, Any], reg: Registry) -> dict[str, Any]:
        return validate(resource, reg, test_environment=settings.validation.test_environment)

    return Stages(validate=check, map_export=export, render=render_municipal_xml, sign=_signer(settings))
