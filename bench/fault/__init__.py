"""Fault runs: the delivery path under a flaky receiver, a killed worker, a restarted database,
duplicate submissions and consents revoked while deliveries are in flight.

``python -m bench.fault [--quick] [--db sqlite|postgres] [--out fault.json]``; every run ends
with a reconciliation (see :mod:`bench.fault.reconcile`). ``tests/fault`` runs the short form.
"""
