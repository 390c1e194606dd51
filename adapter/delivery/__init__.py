"""Delivery: the outbox relay, push to municipalities over HTTPS, pull, receipts.

Takes: outbox rows (signed XML addressed to a recipient) through a Store, and a Transport.
Gives: delivered, retried or dead-lettered messages, with receipts.
The relay does IO only through the Store and Transport ports it is given.
"""
