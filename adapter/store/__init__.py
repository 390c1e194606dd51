"""Persistence (SQLAlchemy 2): every table in ``models.py``, the SQL store of the use cases' port
(``sql.py``, ``outbox.py``), clients, recipients, the hash-chained audit log, Alembic migrations.

Persistence only: no stage, no face and no decision lives here (an import contract says so);
which state follows which is decided in ``adapter.flows``. Embedded default SQLite; PostgreSQL
for production and several instances at once. The same models and queries run on both.
"""
