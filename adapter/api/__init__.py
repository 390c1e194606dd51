"""The Flask service: the FHIR API under ``/fhir``. Views only translate (STYLE §3).

:func:`create_app` registers every blueprint found in ``adapter/api`` modules that define
``bp`` (a new module is picked up without editing this file), and answers every error,
unknown routes and methods too, with an OperationOutcome.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from adapter import errors, messages, wiring
from adapter.api.http import error_response, fhir_response
from adapter.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The WSGI app. ``test_config`` may carry ``SETTINGS`` (a Settings), ``ENGINE`` or ``STORE``,
    ``REGISTRY``, ``STAGES``, ``CLOCK`` and ``MIGRATE`` (run migrations on start; default on for
    the embedded SQLite). Everything else is built by :mod:`adapter.wiring`."""
    config = dict(test_config or {})
    app = Flask(__name__)
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    settings: Settings = config.get("SETTINGS") or Settings.from_env()
    store = config.get("STORE") or wiring.open_store(settings, engine=config.get("ENGINE"),
                                                     upgrade=config.get("MIGRATE"))
    app.extensions["lisn"] = wiring.build_service(settings, store=store, registry=config.get("REGISTRY"),
                                                  stages=config.get("STAGES"), clock=config.get("CLOCK"))
    _quiet_payload_loggers()
    _register_connection(app, store)
    _register_language(app)
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


def _register_connection(app: Flask, store: Any) -> None:
    """One database connection per request (``SqlStore.request``): authentication and the use case
    run their transactions on it instead of a pool checkout each. A gthread worker serves at most
    ``threads`` requests at once; one whose body is still arriving gives its connection back when
    the pool's size is used up (``SqlStore.idle``), so more threads than the pool holds never wait
    on each other's uploads."""
    opened = getattr(store, "request", None)
    if opened is None:  # a store without connections (the in-memory one)
        return
    from contextlib import ExitStack

    from flask import g

    idle = getattr(store, "idle", None)
    if idle is not None:
        app.extensions["lisn-idle"] = idle  # http.read_body: while the body arrives

    @app.before_request
    def hold_connection() -> None:
        stack = ExitStack()
        stack.enter_context(opened())
        g.lisn_connection = stack

    @app.teardown_request
    def release_connection(_exc: BaseException | None) -> None:
        stack = g.pop("lisn_connection", None)
        if stack is not None:
            stack.close()


def _register_language(app: Flask) -> None:
    """Every text of a request's OperationOutcomes is in the language ``Accept-Language`` asks for
    (``sv`` or ``en``; Swedish otherwise); an OperationOutcome says it in ``Content-Language``
    (``http.fhir_response``)."""
    from flask import g, request

    @app.before_request
    def choose_language() -> None:
        g.lisn_lang_token = messages.set_lang(messages.negotiate(request.headers.get("Accept-Language")))

    @app.after_request
    def vary_by_language(response: Response) -> Response:
        response.vary.add("Accept-Language")
        return response

    @app.teardown_request
    def forget_language(_exc: BaseException | None) -> None:
        token = g.pop("lisn_lang_token", None)
        if token is not None:
            messages.reset_lang(token)


def _register_blueprints(app: Flask) -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        bp = getattr(module, "bp", None)
        if bp is not None:
            app.register_blueprint(bp)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(errors.AdapterError)
    def adapter_error(exc: errors.AdapterError) -> Response:
        if isinstance(exc, errors.StoreUnavailable):
            # A lost connection, a restarted database, a lock timeout: nothing was committed, so the
            # sender may simply try again. Only the type is logged (the statement may carry patient data).
            cause = exc.__cause__
            log.warning("database unavailable: %s", type(getattr(cause, "orig", None) or cause).__name__)
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if isinstance(exc, NotFound):
            mid = "LISN_ROUTE_NOT_FOUND"
            return error_response(errors.NotFound(messages.bilingual(mid), message_id=mid))
        if isinstance(exc, MethodNotAllowed):
            mid = "LISN_METHOD_NOT_ALLOWED"
            from flask import request

            oo = errors.outcome([errors.issue("error", "not-supported",
                                              messages.bilingual(mid, method=request.method), message_id=mid)])
            return fhir_response(oo, 405, {"Allow": ", ".join(exc.valid_methods or [])})
        if code == 413:
            return error_response(errors.PayloadTooLarge())
        mid = "LISN_HTTP_ERROR"
        return fhir_response(errors.bad_request(messages.text(mid, status=code, name=exc.name), message_id=mid), code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Types and code locations only: an exception's text may carry patient data.
        log.error("internal error: %s", errors.where(exc))
        return fhir_response(errors.server_error(), 500)
