"""Set up an adapter instance for a run: settings in the environment, migrated database,
development signing keys, a registered sender and the example's socialnämnd.

Uses the library (``adapter.store``), not the CLI, so that a run needs no console script. The
token pepper is chosen here and handed to the service in ``ADAPTER_SERVICE_TOKEN_PEPPER`` so
that the token registered here is the one the service accepts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXAMPLE_CARE_UNIT = "SE2321000016-15CQ"
EXAMPLE_KOMMUNKOD = "0180"


class Unavailable(RuntimeError):
    """The checkout does not yet have what the run needs (reported, not raised to the user)."""


def check_available() -> None:
    try:
        from adapter.api import create_app  # noqa: F401
        from adapter.store import clients, migrate  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from None


def environment(*, data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The ``ADAPTER_*`` variables for one instance (keys are generated under ``data_dir/keys``)."""
    from adapter.signing import init_dev_keys

    data_dir.mkdir(parents=True, exist_ok=True)
    keys = init_dev_keys(data_dir / "keys")
    audit_key = data_dir / "audit-key"
    audit_key.write_text(secrets.token_hex(32), encoding="ascii")
    audit_key.chmod(0o600)
    env = {
        "ADAPTER_AUDIT_KEY_PATH": str(audit_key),
        "ADAPTER_DATA_DIR": str(data_dir),
        "ADAPTER_SERVICE_TOKEN_PEPPER": secrets.token_hex(32),
        "ADAPTER_SIGNING_KEY_PATH": str(keys.key),
        "ADAPTER_SIGNING_CERT_PATH": str(keys.cert),
        "ADAPTER_SIGNING_TRUST_PATHS": str(keys.ca),
    }
    if database_url:
        env["ADAPTER_DATABASE_URL"] = database_url
    return env


def _settings(env: dict[str, str]):  # type: ignore[no-untyped-def]
    from adapter.settings import Settings

    return Settings.from_env(env)


def prepare(env: dict[str, str], *, endpoint: str | None = None, max_attempts: int | None = None) -> str:
    """Migrate, register the example's socialnämnd (push to ``endpoint``, else pull) and a sender
    for the example's care unit; returns the sender's API token."""
    from adapter.store import clients, migrate
    from adapter.store.db import make_engine, session_factory, transaction
    from adapter.store.models import RecipientRow

    settings = _settings(env)
    engine = make_engine(settings.database.effective_url())
    try:
        migrate.upgrade(engine)
        with transaction(session_factory(engine)) as session:
            session.add(RecipientRow(kommunkod=EXAMPLE_KOMMUNKOD, name="Socialnämnden i Stockholms stad",
                                  organisationsnummer="2120000142", delivery_mode="push" if endpoint else "pull",
                                  endpoint_url=endpoint, max_attempts=max_attempts, active=True))
            name = f"bench-sender-{secrets.token_hex(3)}"
            pepper = settings.service.token_pepper.encode("utf-8")
            _, token = clients.add_client(session, name=name, role="sender", pepper=pepper,
                                          care_units=(EXAMPLE_CARE_UNIT,))
    finally:
        engine.dispose()
    return token


def add_client(env: dict[str, str], *, role: str, kommunkod: str | None = None) -> str:
    """Register one more client (``municipality`` for pull, ``admin``) and return its token."""
    from adapter.store import clients
    from adapter.store.db import make_engine, session_factory, transaction

    settings = _settings(env)
    engine = make_engine(settings.database.effective_url())
    try:
        with transaction(session_factory(engine)) as session:
            _, token = clients.add_client(session, name=f"bench-{role}-{secrets.token_hex(3)}", role=role,
                                          pepper=settings.service.token_pepper.encode("utf-8"), kommunkod=kommunkod)
    finally:
        engine.dispose()
    return token


def settings_of(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """The Settings an instance started with ``env`` reads."""
    return _settings(env)


def row_counts(database_url: str) -> dict[str, int]:
    """Rows per table: the measure of "no stored state changed"."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        names = sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            return {n: int(conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}
    finally:
        engine.dispose()


# The audit log records refused requests too (who tried what, when): that is the log doing its
# job, not stored state changing. Every other table must keep its row count.
AUDIT_TABLES = frozenset({"audit_log", "audit_head"})


@dataclass
class Instance:
    """An app on a fresh SQLite database with a registered sender (and municipality), in-process."""

    app: Any
    token: str
    database_url: str
    municipality_token: str = ""

    def counts(self) -> dict[str, int]:
        """Row counts of every table but the audit log's."""
        return {t: n for t, n in row_counts(self.database_url).items() if t not in AUDIT_TABLES}

    def close(self) -> None:
        self.app.extensions["lisn"].store.engine.dispose()


def instance(data_dir: Path) -> Instance:
    """Provision ``data_dir`` and build the app on it (the hostile corpus and the API fuzzing share it)."""
    check_available()
    env = environment(data_dir=data_dir)
    token = prepare(env)
    settings = settings_of(env)
    from adapter.api import create_app

    app = create_app({"TESTING": True, "SETTINGS": settings})
    municipality = add_client(env, role="municipality", kommunkod=EXAMPLE_KOMMUNKOD)
    return Instance(app, token, settings.database.effective_url(), municipality)
