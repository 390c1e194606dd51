"""Alembic, configured in code so that ``adapter db upgrade`` works from an installed wheel.

Revisions live in ``adapter/store/migrations/versions``; ``0001_initial`` creates the
service's tables, the delivery's ``0002_outbox`` follows it, then ``0003_recipient_ca_bundle``
``0004_stats`` (the de-identified statistics, back-filled from the stored certificates) and
``0005_issuer_scope`` (certificates known by issuing care unit and id: issue 13).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database to ``revision`` (all heads by default)."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current(engine: Engine) -> set[str]:
    """The revisions the database is at (empty before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
