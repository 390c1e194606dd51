"""Configuration: one frozen dataclass per concern, secure by default.

The environment is read in exactly one place, :meth:`Settings.from_env`
(prefix ``ADAPTER_``); the objects are passed down as arguments, never read
from globals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Input limits that hold for every way in (HTTP, CLI, worker)."""

    max_body_bytes: int = 2 * 1024 * 1024
    """Largest request body or input file, in bytes (also for chunked bodies)."""
    max_json_depth: int = 64
    """Deepest nesting of JSON arrays and objects accepted."""
    max_xml_depth: int = 64
    """Deepest nesting of XML elements accepted."""
    body_read_seconds: float = 30.0
    """Longest time a request body may take to arrive, in all (a slow client holds a worker thread
    while it sends; past this it is answered 408 and the connection closed)."""


@dataclass(frozen=True)
class XmlParsing:
    """How XML input is parsed. Every default is the safe choice."""

    forbid_dtd: bool = True
    """Refuse any document with a DOCTYPE (no DTD, no entity declarations)."""
    forbid_entities: bool = True
    """Never expand entities."""
    forbid_external: bool = True
    """Never touch the network or the file system while parsing."""


@dataclass(frozen=True)
class SigningSettings:
    """Keys and algorithms for the outbound XML signature."""

    key_path: Path | None = None
    """Private key (PEM or PKCS#12)."""
    cert_path: Path | None = None
    """Signer certificate (PEM), optionally followed by its chain."""
    key_passphrase: str | None = None
    """Passphrase of the key file, if any."""
    trust_paths: tuple[Path, ...] = ()
    """Trust anchors (PEM) for verifying signatures; never the public web PKI."""
    algorithm: str = "rsa-sha256"
    """``rsa-sha256`` or ``ecdsa-sha256``; SHA-1 is never allowed."""
    xades: bool = False
    """Add XAdES-BES qualifying properties (SigningTime, SigningCertificateV2)."""


@dataclass(frozen=True)
class DatabaseSettings:
    """Where state is stored."""

    url: str = ""
    """SQLAlchemy URL; empty means SQLite in ``data_dir``."""
    data_dir: Path = Path("var")
    """Folder for the embedded SQLite database and local files."""

    def effective_url(self) -> str:
        return self.url or f"sqlite:///{(self.data_dir / 'adapter.db').resolve()}"


@dataclass(frozen=True)
class DeliverySettings:
    """The outbox relay and push delivery."""

    connect_timeout: float = 5.0
    """Seconds to wait for a recipient's TCP/TLS connection."""
    read_timeout: float = 30.0
    """Seconds to wait for a recipient's answer."""
    push_deadline: float = 0.0
    """Seconds one whole push may take (connect, send, the whole answer); 0: connect + read timeout."""
    max_attempts: int = 0
    """Attempts before a message is dead-lettered; 0: no count limit, ``retry_period`` decides."""
    retry_period: float = 3 * 24 * 3600.0
    """Seconds a message that keeps failing (no answer, 5xx, 429) is retried, counted from its first
    failed attempt, before it is dead-lettered (3 days: a municipality's weekend outage)."""
    max_unanswered: int = 10
    """Claims that ended without any recorded outcome (the worker died) before a message is dead-lettered."""
    backoff_base: float = 2.0
    """First retry delay in seconds; doubles per attempt, with full jitter."""
    backoff_max: float = 3600.0
    """Longest retry delay in seconds."""
    lease_seconds: float = 60.0
    """How long a claimed outbox row belongs to one worker; must exceed the push deadline + 1 s."""
    lanes: int = 8
    """Pushes one worker runs at the same time (threads)."""
    per_recipient: int = 2
    """Pushes one worker runs at the same time to one municipality."""
    breaker_failures: int = 5
    """Consecutive failed pushes to one municipality that open its circuit."""
    breaker_cooldown: float = 60.0
    """Seconds an open circuit keeps a municipality's messages waiting before it is tried again."""
    run_in_process: bool = False
    """Run the relay inside the web service (embedded default only)."""

    @property
    def deadline(self) -> float:
        """The total deadline of one push in seconds."""
        return self.push_deadline or (self.connect_timeout + self.read_timeout)


@dataclass(frozen=True)
class ServiceSettings:
    """The HTTP service."""

    trusted_proxies: tuple[str, ...] = ()
    """Addresses whose client-certificate headers are believed."""
    client_cert_header: str = "X-SSL-Client-Cert"
    """Header in which the reverse proxy forwards the client certificate (PEM, URL-encoded)."""
    base_url: str = ""
    """Public base URL of the FHIR API, used in fullUrls and Location headers; empty: the address
    ``adapter serve`` listens on (``http://localhost:8080/fhir`` for an app built otherwise)."""
    token_pepper: str = ""
    """Server secret API tokens are keyed with (HMAC); empty: one kept in ``data_dir/token-pepper``
    (development only)."""
    environment: str = ""
    """``production``, ``development``, or empty: production when the database URL names a server
    database (not SQLite). Production refuses to start without configured secrets
    (``adapter.wiring.check_production``). Short form ``ADAPTER_ENV``."""

    def is_production(self, database: DatabaseSettings) -> bool:
        if self.environment:
            return self.environment.strip().lower() == "production"
        return bool(database.url) and not database.url.startswith("sqlite")


@dataclass(frozen=True)
class AuditSettings:
    """The audit log's seal: both live outside the database (docs/service.md, "Audit log")."""

    key_path: Path | None = None
    """File holding the HMAC-SHA256 key (at least 32 bytes) the rows and checkpoints are MAC'd with;
    unset: one generated into ``data_dir/audit-key`` (development only)."""
    checkpoint_path: Path | None = None
    """File the signed checkpoints of the chain's head are appended to; unset:
    ``data_dir/audit-checkpoints.jsonl``. Keep it where the database's administrators cannot write."""


@dataclass(frozen=True)
class ValidationSettings:
    """How strictly submissions are checked."""

    test_environment: bool = False
    """A test installation: Inera's test HSA-ids (``TSTNMT...``) are accepted. Never in production."""


@dataclass(frozen=True)
class StatisticsSettings:
    """Disclosure control of the de-identified statistics (docs/statistics.md)."""

    min_cell: int = 5
    """Counts from 1 up to one less than this are never shown, nor any count that would let one be worked out."""


@dataclass(frozen=True)
class Settings:
    """All settings of one adapter instance."""

    limits: Limits = field(default_factory=Limits)
    xml: XmlParsing = field(default_factory=XmlParsing)
    signing: SigningSettings = field(default_factory=SigningSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    statistics: StatisticsSettings = field(default_factory=StatisticsSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)

    @property
    def production(self) -> bool:
        """Whether this is a production instance (see :attr:`ServiceSettings.environment`)."""
        return self.service.is_production(self.database)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "ADAPTER") -> Settings:
        """Read ``ADAPTER_<CONCERN>_<FIELD>`` (and the short forms ``ADAPTER_DATABASE_URL``,
        ``ADAPTER_DATA_DIR``, ``ADAPTER_ENV``) from the environment."""
        env = dict(os.environ if environ is None else environ)
        base = cls()
        updates: dict[str, Any] = {}
        for concern in fields(cls):
            current = getattr(base, concern.name)
            changes: dict[str, Any] = {}
            for f in fields(current):
                key = f"{prefix}_{concern.name.upper()}_{f.name.upper()}"
                if key in env:
                    changes[f.name] = _convert(getattr(current, f.name), env[key], f.type)
            if changes:
                updates[concern.name] = replace(current, **changes)
        db = updates.get("database", base.database)
        if f"{prefix}_DATABASE_URL" in env:
            db = replace(db, url=env[f"{prefix}_DATABASE_URL"])
        if f"{prefix}_DATA_DIR" in env:
            db = replace(db, data_dir=Path(env[f"{prefix}_DATA_DIR"]))
        updates["database"] = db
        if f"{prefix}_ENV" in env:
            updates["service"] = replace(updates.get("service", base.service), environment=env[f"{prefix}_ENV"])
        return replace(base, **updates)


def _convert(current: Any, raw: str, annotation: Any) -> Any:
    if isinstance(current, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, tuple):
        items = [p.strip() for p in raw.split(",") if p.strip()]
        return tuple(Path(p) for p in items) if "Path" in str(annotation) else tuple(items)
    if isinstance(current, Path) or "Path" in str(annotation):
        return Path(raw) if raw else None
    return raw
