"""The embedded server (``adapter serve``): Werkzeug's threaded WSGI server, with a request log
that leaves out query strings (a search by patient carries the personnummer in the URL), and an
OperationOutcome for what it refuses before the app sees it (a malformed request line)."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class PathOnlyRequestHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # A malformed request line is answered 400 before ``path`` (or ``command``) is set.
        path = str(getattr(self, "path", "") or "-").split("?", 1)[0]
        command = getattr(self, "command", None) or "-"
        self.log("info", '"%s %s %s" %s %s', command, path, getattr(self, "request_version", "-"), code, size)


    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server answers a request line it cannot parse with an HTML page; the API answers
        # with an OperationOutcome, and never echoes the request (it may carry patient data).
        from http import HTTPStatus

        from adapter import errors, messages

        try:
            name = HTTPStatus(code).phrase
        except ValueError:
            name = "HTTP"
        mid = "LISN_HTTP_ERROR"  # a request it could not read has no Accept-Language: Swedish
        body = json.dumps(errors.bad_request(messages.text(mid, status=code, name=name), message_id=mid),
                          separators=(",", ":")).encode("utf-8")
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # a line it could not parse: answer with a status line
        self.send_response(code)
        self.send_header("Content-Type", "application/fhir+json; charset=utf-8")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


def make_embedded_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)
