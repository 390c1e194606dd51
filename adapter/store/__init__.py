"""Persistence (SQLAlchemy 2): submissions, consents, clients, recipients, outbox, receipts, audit log.

Embedded default SQLite; PostgreSQL for production and several instances at once.
The same models and queries run on both.
"""
