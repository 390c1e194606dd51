"""Wiring: the one place where the parts are put together from :class:`~adapter.settings.Settings`.

Both faces build what they run here: the HTTP service (``adapter.api.create_app``) and the
commands (``adapter.cli``) open the database with :func:`open_store`, get the use cases'
:class:`~adapter.flows.context.Service` from :func:`build_service` and a delivery relay from
:func:`build_relay`. Nothing else opens a database, loads signing keys or builds a relay.

Signing keys come from ``ADAPTER_SIGNING_KEY_PATH`` / ``ADAPTER_SIGNING_CERT_PATH``, the token
pepper from ``ADAPTER_SERVICE_TOKEN_PEPPER``, the audit key from ``ADAPTER_AUDIT_KEY_PATH``. In
development, missing ones are generated once into ``<data_dir>`` (the signing keys under a test CA
that says NOT FOR PRODUCTION) and a warning is logged; a production instance
(``Settings.production``) refuses to start instead, naming every missing one
(:func:`check_production`). Secret files and the SQLite database are created 0600. The stages
are imported only when a service is built, so a command that needs none of them
(``adapter db upgrade``) starts quickly.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from adapter import errors, messages
from adapter.clock import Clock, SystemClock
from adapter.delivery.model import Recipient
from adapter.delivery.relay import Relay
from adapter.fhir.registry import Registry, default_registry
from adapter.flows.context import Service, Stages
from adapter.flows.ports import ClientInfo
from adapter.flows.relay import RelayStore, static_recipients
from adapter.settings import Settings
from adapter.store import migrate
from adapter.store.audit import AuditSeal
from adapter.store.audit import load_key as load_audit_key
from adapter.store.db import make_engine
from adapter.store.sql import SqlStore

log = logging.getLogger(__name__)

OPERATOR = ClientInfo(id="", name="admin-cli", role="admin")
"""The caller of the operator commands (``adapter queue``, ``adapter reprocess``)."""


class UnsafeConfiguration(errors.AdapterError):
    """A production instance is missing a secret it must not make up (the message names each).
    Raised at start-up, before any request: the service does not start, a command exits."""

    code = "security"
    message_id = "LISN_UNSAFE_CONFIGURATION"


# What a production instance must be given, and the setting that gives it.
_REQUIRED_IN_PRODUCTION = (
    ("signing key", "ADAPTER_SIGNING_KEY_PATH", lambda s: s.signing.key_path),
    ("signing certificate", "ADAPTER_SIGNING_CERT_PATH", lambda s: s.signing.cert_path),
    ("token pepper", "ADAPTER_SERVICE_TOKEN_PEPPER", lambda s: s.service.token_pepper),
    ("audit key", "ADAPTER_AUDIT_KEY_PATH", lambda s: s.audit.key_path),
)


def check_production(settings: Settings) -> None:
    """Refuse (:class:`UnsafeConfiguration`) a production instance that lacks any configured secret."""
    if not settings.production:
        return
    missing = [f"{what} ({env})" for what, env, get in _REQUIRED_IN_PRODUCTION if not get(settings)]
    if missing:
        raise UnsafeConfiguration("production instance (ADAPTER_ENV=production or a server database) "
                                  "refuses to start without: " + ", ".join(missing))
    loopback = [a for a in settings.service.trusted_proxies if is_loopback(a)]
    if loopback:
        raise UnsafeConfiguration(f"production instance refuses loopback in ADAPTER_SERVICE_TRUSTED_PROXIES "
                                  f"({', '.join(loopback)}): any local process could claim a client certificate")


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) or localhost."""
    if address.strip().lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _dev_only(settings: Settings, what: str) -> None:
    if settings.production:
        check_production(settings)
        raise UnsafeConfiguration(f"production instance refuses to generate a development {what}")


def open_store(settings: Settings, *, engine: Engine | None = None, upgrade: bool | None = None,
               audited: bool = True) -> SqlStore:
    """The configured database with its audit seal. The embedded SQLite default is created (0600)
    and migrated on open. ``audited=False`` (``adapter db upgrade``) opens it without the seal."""
    url = settings.database.effective_url()
    if url.startswith("sqlite"):
        Path(settings.database.data_dir).mkdir(parents=True, exist_ok=True)
        _create_private(_sqlite_file(url))
    seal = audit_seal(settings) if audited else None
    engine = engine or make_engine(url)
    if url.startswith("sqlite") if upgrade is None else upgrade:
        migrate.upgrade(engine)
    return SqlStore(engine, seal=seal)


def _sqlite_file(url: str) -> Path | None:
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def _create_private(path: Path | None) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite gives its -wal and -shm files
    the database file's mode)."""
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def audit_seal(settings: Settings) -> AuditSeal:
    """The audit key and checkpoint file (both outside the database). The key comes from
    ``ADAPTER_AUDIT_KEY_PATH``; in development one is generated into ``<data_dir>/audit-key``."""
    data_dir = Path(settings.database.data_dir)
    checkpoints = Path(settings.audit.checkpoint_path or data_dir / "audit-checkpoints.jsonl")
    if settings.audit.key_path:
        key_path = Path(settings.audit.key_path)
    else:
        _dev_only(settings, "audit key")
        key_path = data_dir / "audit-key"
        if _write_secret(key_path, secrets.token_hex(32).encode("ascii")):
            log.warning("generated an audit key in %s; set ADAPTER_AUDIT_KEY_PATH in production", key_path)
    try:
        key = load_audit_key(key_path)
        # The checkpoint file must be writable now: a worker that cannot checkpoint does not start.
        checkpoints.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(checkpoints, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except (OSError, ValueError) as exc:
        raise UnsafeConfiguration(f"audit seal: {exc}") from None
    return AuditSeal(key=key, checkpoints=checkpoints)


def _write_secret(path: Path, value: bytes) -> bool:
    """Write a new secret file (0600) unless one exists; True when this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # another worker wrote it first
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return True


def build_service(settings: Settings, *, store: Any = None, registry: Registry | None = None,
                  stages: Stages | None = None, clock: Clock | None = None) -> Service:
    """The use cases' service: store, conformance registry, stages, clock and token pepper."""
    check_production(settings)
    registry = registry or default_registry()
    return Service(settings=settings, store=store or open_store(settings), registry=registry,
                   stages=stages or default_stages(settings, registry), clock=clock or SystemClock(),
                   pepper=token_pepper(settings))


def operator_service(settings: Settings, store: Any, *, stages: bool) -> Service:
    """The service of an operator command; without ``stages`` it neither loads the profiles nor
    touches the signing keys (``adapter queue list`` renders nothing)."""
    if stages:
        return build_service(settings, store=store)
    return Service(settings=settings, store=store, registry=Registry(), stages=_NO_STAGES)


def _absent(*_: Any, **__: Any) -> Any:
    raise RuntimeError("this service was built without its stages (wiring.operator_service)")


_NO_STAGES = Stages(validate=_absent, map_export=_absent, render=_absent, sign=_absent)


def default_stages(settings: Settings, registry: Registry) -> Stages:
    """The stage functions of this installation."""
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


def _signer(settings: Settings) -> Any:
    """The signing function, its key loaded now: a key that cannot load stops the start-up."""
    from adapter.signing.keys import load_certificates, load_key
    from adapter.signing.xmldsig import sign_document

    key_path, cert_path = signing_paths(settings)
    key = load_key(key_path, settings.signing.key_passphrase)
    chain = load_certificates(cert_path)

    def sign(xml: bytes) -> bytes:
        return sign_document(xml, key=key, cert_chain=chain, algorithm=settings.signing.algorithm,
                             xades=settings.signing.xades)
    return sign


def signing_paths(settings: Settings) -> tuple[Path, Path]:
    """(key, certificate chain) paths, generating development keys when none are configured."""
    signing = settings.signing
    if signing.key_path and signing.cert_path:
        return Path(signing.key_path), Path(signing.cert_path)
    _dev_only(settings, "signing key")
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


def token_pepper(settings: Settings) -> bytes:
    """The server secret tokens are keyed with: from the settings, else one kept in the data folder."""
    if settings.service.token_pepper:
        return settings.service.token_pepper.encode("utf-8")
    _dev_only(settings, "token pepper")
    path = Path(settings.database.data_dir) / "token-pepper"
    if _write_secret(path, secrets.token_hex(32).encode("ascii")):
        log.warning("generated a token pepper in %s; set ADAPTER_SERVICE_TOKEN_PEPPER in production", path)
    return path.read_bytes().strip()


# -- delivery --------------------------------------------------------------------------------------

def build_relay(settings: Settings, store: Any, *, recipients_file: Path | None = None, batch: int = 10,
                role: str = "", clock: Clock | None = None) -> Relay:
    """The relay: the store through the use-case layer, HTTPS push with the configured timeouts."""
    from adapter.delivery.http import HttpTransport

    lookup = static_recipients(read_recipients(recipients_file)) if recipients_file else None
    d = settings.delivery
    if d.lease_seconds <= d.deadline + 1.0:  # a second worker could take over a push still in flight
        mid = "LISN_DELIVERY_LEASE_TOO_SHORT"
        raise errors.InputRejected(messages.bilingual(mid, lease=f"{d.lease_seconds:g}", deadline=f"{d.deadline:g}"),
                                   message_id=mid)
    transport = HttpTransport(connect_timeout=settings.delivery.connect_timeout,
                              read_timeout=settings.delivery.read_timeout, deadline=settings.delivery.deadline)
    owner = ":".join(p for p in (socket.gethostname(), str(os.getpid()), role, uuid.uuid4().hex[:8]) if p)
    return Relay(RelayStore(store, recipients=lookup, clock=clock), transport, settings=settings.delivery,
                 owner=owner, batch=batch, clock=clock)


def read_recipients(path: Path) -> list[Recipient]:
    """A JSON list of recipients (``kommunkod``, ``mode``, ``endpoint``, ``client_cert``, ...)."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [Recipient(**item) for item in items]
    except (OSError, ValueError, TypeError) as exc:
        mid = "LISN_DELIVERY_RECIPIENTS_FILE"
        raise errors.InputRejected(messages.bilingual(mid, path=str(path), detail=type(exc).__name__),
                                   message_id=mid) from None


def start_in_process_relay(service: Service, *, poll_interval: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    """Run the relay as a daemon thread of this process (embedded default); set the event to stop it."""
    from adapter.delivery.loop import run_loop

    relay = build_relay(service.settings, service.store, role="in-process")
    stop = threading.Event()
    thread = threading.Thread(target=run_loop, args=(relay,), name="lisn-relay", daemon=True,
                              kwargs={"stop": stop, "poll_interval": poll_interval})
    thread.start()
    return thread, stop
