"""Delivery: the outbox relay, push to municipalities over HTTPS, pull, receipts.

Takes: outbox rows (signed XML addressed to a recipient) through a Store, and a Transport.
Gives: delivered, retried or dead-lettered messages, with receipts.
The relay does IO only through the Store and Transport ports it is given; no Flask, no database.
``adapter.delivery.http`` is the one module here that touches the network (``requests``).
"""

from adapter.delivery.backoff import backoff_delay
from adapter.delivery.idempotency import idempotency_key
from adapter.delivery.model import Claimed, Envelope, Kind, Outcome, Receipt, Recipient, State, Store, Transport
from adapter.delivery.relay import Relay, RunStats

__all__ = ["Claimed", "Envelope", "Kind", "Outcome", "Receipt", "Recipient", "Relay", "RunStats",
           "State", "Store", "Transport", "backoff_delay", "idempotency_key"]
