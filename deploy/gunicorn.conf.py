"""Gunicorn for production: several workers against PostgreSQL (ADAPTER_DATABASE_URL).

    adapter db upgrade                      # once per release, before the workers start
    gunicorn -c deploy/gunicorn.conf.py 'adapter.api:create_app()'

Behind a TLS-terminating reverse proxy (nginx) that verifies client certificates and forwards
them in X-SSL-Client-Cert; set ADAPTER_SERVICE_TRUSTED_PROXIES to the proxy's address on its own
host (never loopback: any local process could send the header; docs/service.md).
"""

import multiprocessing
import os

bind = os.environ.get("ADAPTER_BIND", "127.0.0.1:8080")
# Each worker holds its own engine and connection pool (no preload: pools must not cross a fork).
workers = int(os.environ.get("ADAPTER_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("ADAPTER_THREADS", 4))
worker_class = "gthread"
preload_app = False
timeout = 60
graceful_timeout = 30
# The request body limit is enforced by the app (also for chunked bodies); these bound the headers.
limit_request_line = 8190
limit_request_fields = 100
# Access log without query strings: a search by patient carries the personnummer in the URL.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"


def post_worker_init(worker):  # noqa: ARG001 - gunicorn's hook signature
    """The worker has loaded the app. First it validates the shipped example submissions until their
    FHIRPath code is generated (``adapter.validation.warm``: otherwise that happens inside its first
    few hundred requests, the slowest of them taking 250-300 ms; about 0.7 s of CPU here). What
    exists then (modules, the registry, the profiles, the generated code: about 120,000 objects)
    lives as long as the worker. ``gc.freeze`` takes it out of the cyclic garbage collector's walks,
    which otherwise visit all of it in every full collection (about 0.1 s of CPU every few hundred
    requests, measured in process: 0.6 -> 0.2 ms per submission)."""
    import gc

    from adapter.validation.warm import warm_up

    warm_up()
    gc.collect()
    gc.freeze()
