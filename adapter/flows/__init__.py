"""The use cases: every flow of the service, each from the request to the stored state.

Takes: a request already parsed by a face (raw bytes of a submission or Consent, an id), the
caller, and a :class:`~adapter.flows.ports.Store` (one transaction per call).
Gives: the resource to answer with, or the refusal (an ``AdapterError``), with its audit row.
Calls the stages (inbound, validation, consent, outbound, signing, delivery); imports no face
(Flask, click) and no storage implementation (``adapter.store``): storage is the port.

The flows, one module each, each opening with its list of steps:

* :mod:`~adapter.flows.submit`: a certificate, replacement or withdrawal (``$process-message``);
* :mod:`~adapter.flows.consents`: register and revoke a Consent, who may write and read it;
* :mod:`~adapter.flows.release`: the consent decision, release to the outbox, withhold, withdraw;
* :mod:`~adapter.flows.reads`: Task and Consent reads and searches, each authorised and audited;
* :mod:`~adapter.flows.pull`: a municipality lists, fetches and acknowledges;
* :mod:`~adapter.flows.operate`: the operator's queue list/show, retry, dead-letter, reprocess;
* :mod:`~adapter.flows.relay`: the delivery relay's store, through this layer;
* :mod:`~adapter.flows.access`: who is calling (tokens, client certificates).

This package's ``__init__`` imports nothing, so that a store implementing
:mod:`~adapter.flows.ports` depends on no stage.
"""
