"""The one place errors become HTTP responses.

API paths answer ``{"error", "message", "details"}`` JSON; console pages get
a readable HTML page. Parts with a protocol of their own (Nacos, Kubernetes)
register handlers on their blueprints, which Flask prefers to these.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from shipway.core.errors import ShipwayError

log = logging.getLogger(__name__)

#: What an unexpected error answers (here and in the fast lane): the details stay in the server log.
INTERNAL_MESSAGE = "internal error; the server log has the details (search for the X-Request-Id of this response)"

_API_PREFIXES = ("/api", "/apis", "/nacos", "/webhooks", "/healthz", "/readyz", "/metrics", "/version")


def wants_json() -> bool:
    if request.path.startswith(_API_PREFIXES):
        return True
    # Only a browser names text/html explicitly; curl and API clients send */* or JSON.
    return "text/html" not in request.headers.get("Accept", "")


def jsonify_bytes(data) -> bytes:
    """``data`` as Flask's ``jsonify`` writes it here (compact, a newline at the end): for answers that the
    fast lane (server/fastlane.py) and Flask must give alike."""
    return json.dumps(data, separators=(",", ":"), default=str).encode() + b"\n"


def error_json(code: str, message: str, details: dict | None = None) -> bytes:
    """The body of an API error: ``{"error", "message", "details"}``, as :func:`jsonify_bytes` writes it."""
    return jsonify_bytes({"error": code, "message": message, "details": details or {}})


def _respond(status: int, code: str, message: str, details: dict | None = None) -> Response:
    if wants_json():
        return Response(error_json(code, message, details), status=status, mimetype="application/json")
    html = render_template("error.html", status=status, code=code, message=message, details=details or {})
    return Response(html, status=status, mimetype="text/html")


def init_app(app: Flask) -> None:
    @app.errorhandler(ShipwayError)
    def _shipway(e: ShipwayError):
        if e.status >= 500:
            log.error("%s: %s", e.code, e.message)
        resp = _respond(e.status, e.code, e.message, e.details)
        if e.status == 401 and wants_json():
            resp.headers["WWW-Authenticate"] = 'Bearer realm="shipway"'
        return resp

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):
        return _respond(400, "csrf_failed", f"form rejected: {e.description} Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        code = (e.name or "error").lower().replace(" ", "_")
        message = e.description or e.name
        if e.code == 404:
            message = f"no such path: {request.method} {request.path}"
        elif e.code == 405:
            allowed = e.valid_methods if hasattr(e, "valid_methods") and e.valid_methods else []
            message = f"method {request.method} not allowed on {request.path}" + (
                f" (allowed: {', '.join(sorted(allowed))})" if allowed else "")
        elif e.code == 413:
            message = f"request body too large (limit {app.config['MAX_CONTENT_LENGTH']} bytes)"
        resp = _respond(e.code or 500, code, message)
        if e.code == 405 and getattr(e, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, "internal_error", INTERNAL_MESSAGE)
