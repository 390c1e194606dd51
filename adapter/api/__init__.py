"""The Flask service: the FHIR API under ``/fhir``. Views only translate (STYLE §3).

:func:`create_app` registers every blueprint found in ``adapter/api`` modules that define
``bp`` (a new module is picked up without editing this file), and answers every error,
unknown routes and methods too, with an OperationOutcome.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Any, Mapping

from flask import Flask, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from adapter import errors, messages
from adapter.api.http import fhir_response
from adapter.api.service import Service, token_pepper
from adapter.fhir.registry import default_registry
from adapter.settings import Settings
from adapter.store import migrate
from adapter.store.db import make_engine

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The WSGI app. ``test_config`` may carry ``SETTINGS`` (a Settings), ``ENGINE``, ``STAGES``,
    ``CLOCK`` and ``MIGRATE`` (run migrations on start; default on for the embedded SQLite)."""
    config = dict(test_config or {})
    app = Flask(__name__)
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    settings: Settings = config.get("SETTINGS") or Settings.from_env()
    url = settings.database.effective_url()
    if url.startswith("sqlite"):
        settings.database.data_dir.mkdir(parents=True, exist_ok=True)
    engine = config.get("ENGINE") or make_engine(url)
    if config.get("MIGRATE", url.startswith("sqlite")):
        migrate.upgrade(engine)
    from adapter.api.stages import default_stages  # imports the stages only when an app is built

    registry = config.get("REGISTRY") or default_registry()
    svc = Service(settings=settings, engine=engine, registry=registry,
                  stages=config.get("STAGES") or default_stages(settings, registry),
                  pepper=token_pepper(settings))
    if config.get("CLOCK") is not None:
        svc.clock = config["CLOCK"]
    app.extensions["lisn"] = svc
    _quiet_payload_loggers()
    _register_blueprints(app)
    _register_error_handlers(app)
    return app


# Libraries that log whole documents at DEBUG (signxml logs the canonicalised certificate):
# patient data must never reach plain-text application logs, whatever the root level is.
PAYLOAD_LOGGERS = ("signxml", "sqlalchemy.engine")


def _quiet_payload_loggers() -> None:
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.WARNING)


def _register_blueprints(app: Flask) -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        bp = getattr(module, "bp", None)
        if bp is not None:
            app.register_blueprint(bp)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(errors.AdapterError)
    def adapter_error(exc: errors.AdapterError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        # The class knows its status (a ValidationFailed is 422 whatever its issues' codes say).
        status = exc.status if type(exc) is not errors.AdapterError else errors.status_for(exc.outcome)
        if status == 503:
            headers["Retry-After"] = "60"
        if status == 413:
            headers["Connection"] = "close"
        return fhir_response(exc.outcome, status, headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if isinstance(exc, NotFound):
            oo = errors.not_found(messages.bilingual("LISN_ROUTE_NOT_FOUND"), message_id="LISN_ROUTE_NOT_FOUND")
        elif isinstance(exc, MethodNotAllowed):
            mid = "LISN_METHOD_NOT_ALLOWED"
            from flask import request

            oo = errors.outcome([errors.issue("error", "not-supported",
                                              messages.bilingual(mid, method=request.method), message_id=mid)])
            return fhir_response(oo, 405, {"Allow": ", ".join(exc.valid_methods or [])})
        elif code == 413:
            oo = errors.too_large()
        else:
            oo = errors.bad_request(f"{exc.name}.", message_id=f"LISN_HTTP_{code}")
        return fhir_response(oo, code)

    @app.errorhandler(DBAPIError)
    def store_unavailable(exc: DBAPIError) -> Response:
        # A lost connection, a restarted database, a lock timeout: nothing was committed, so the
        # sender may simply try again. Only the type is logged (the statement may carry patient data).
        if not (isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated):
            return unexpected(exc)
        log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        mid = "LISN_STORE_UNAVAILABLE"
        oo = errors.outcome([errors.issue("error", "transient", messages.bilingual(mid), message_id=mid)])
        return fhir_response(oo, 503, {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Only the type: an exception's text may carry patient data.
        log.error("internal error: %s", type(exc).__name__)
        return fhir_response(errors.server_error(), 500)
