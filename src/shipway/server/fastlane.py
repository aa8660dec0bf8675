"""A WSGI fast lane: the few hot, simple API calls answered without going through Flask.

Some calls arrive at machine rates from clients that are not people: Nacos clients register, deregister
and beat (every instance, every 5 s). Measured on the registration benchmark (bench/registry_register.py,
2026-11-24), Flask's request handling — routing, the request and app contexts, the before/after hooks,
the form parser, the ``Response`` object — was a third of the server's CPU for a registration: 0.86 ms
per registration through Flask, 0.59 ms through this lane, for the same work.

A :class:`Route` names a method and an exact path, the role it needs and a handler that takes the
request's values (query and form parameters, the query's winning) and returns the answer. The lane takes
a request only when it is plainly the happy path: a route it knows, a url-encoded body of bounded size
(or none), and an API token — ``Authorization: Bearer`` or Nacos's ``accessToken`` parameter — whose
identity holds the route's role. Everything else goes to Flask with the body put back, so that one place
answers every unusual case: no token, a bad one, a missing role (401/403), a cookie session (CSRF), other
content types, chunked or large bodies. In the lane a request gets what Flask gives it: a request id
(``X-Request-Id``, also in the log records), the request metrics, the request log line, and the route's
error answers (or the app's JSON 500 for an unexpected error).
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable, Mapping
from urllib.parse import parse_qsl

from shipway.core import logs
from shipway.core.errors import ShipwayError
from shipway.server.errors import INTERNAL_MESSAGE
from shipway.server.ops import LATENCY, REQUESTS, new_request_id
from shipway.server.security import bearer_token

log = logging.getLogger("shipway.server.ops")  # the request log lines are the ops module's
MAX_BODY = 64 << 10  # larger bodies go to Flask (which enforces the app's own limit)
FORM = "application/x-www-form-urlencoded"

#: What a handler returns: ``(status, content type, body)``.
Answer = tuple[int, str, bytes]
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


@dataclass(frozen=True)
class Route:
    """A call the lane answers: ``handler(values)`` runs it, ``on_error(e)`` answers a :class:`ShipwayError`."""

    method: str
    path: str
    endpoint: str  # the Flask endpoint name of the same call: its metrics and log lines are the same
    role: str
    handler: Callable[[Mapping[str, str]], Answer]
    on_error: Callable[[ShipwayError], Answer]


def json_answer(data) -> Answer:
    """A 200 JSON answer, compact as Flask's ``jsonify`` writes it."""
    return 200, JSON, json.dumps(data, separators=(",", ":")).encode()


class FastLane:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app, users) -> None:
        self.app, self.users = app, users
        self.routes: dict[tuple[str, str], Route] = {}

    def add(self, route: Route) -> None:
        self.routes[(route.method, route.path)] = route

    def __call__(self, environ, start_response):
        route = self.routes.get((environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")))
        if route is None:
            return self.app(environ, start_response)
        taken = self._take(environ, route)
        if taken is None:
            return self.app(environ, start_response)
        return self._serve(route, taken, environ, start_response)

    def _take(self, environ, route: Route) -> dict[str, str] | None:
        """The request's values if the lane answers it, else ``None`` (the body is put back for Flask)."""
        if "HTTP_TRANSFER_ENCODING" in environ:
            return None  # chunked: Flask reads it
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        body = b""
        if length:
            if length > MAX_BODY or environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != FORM:
                return None
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)  # for Flask, if the lane declines after all
        values = _pairs(body.decode("utf-8", "replace"))
        # The query's values win over the form's (as in the Flask views); WSGI gives the query as latin-1 text.
        values.update(_pairs(environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")))
        token = bearer_token(environ.get("HTTP_AUTHORIZATION", "")) or values.get("accessToken")
        if not token:
            return None  # a cookie session (CSRF applies) or nobody (401): Flask answers
        try:
            ident = self.users.resolve_token(token)
        except Exception:  # noqa: BLE001 - e.g. the store unavailable: Flask answers it (503) as for any call
            return None
        if ident is None or not ident.can(route.role):
            return None  # 401/403 with their usual bodies
        return values

    def _serve(self, route: Route, values: dict[str, str], environ, start_response):
        t0 = time.perf_counter()
        rid = environ.get("HTTP_X_REQUEST_ID", "")[:64] or new_request_id()
        reset = logs.request_id.set(rid)
        try:
            try:
                status, ctype, body = route.handler(values)
            except ShipwayError as e:
                if e.status >= 500:
                    log.error("%s: %s", e.code, e.message)
                status, ctype, body = route.on_error(e)
            except Exception:  # noqa: BLE001 - answered like the app's own handler of unexpected errors
                logging.getLogger("shipway.server.errors").exception(
                    "unhandled error on %s %s", route.method, route.path)
                status, ctype, body = 500, JSON, json.dumps({
                    "error": "internal_error", "message": INTERNAL_MESSAGE, "details": {}}).encode()
            elapsed = time.perf_counter() - t0
            REQUESTS.labels(route.method, route.endpoint, str(status)).inc()
            LATENCY.labels(route.method, route.endpoint).observe(elapsed)
            log.info("%s %s %s %.1fms", route.method, route.path, status, elapsed * 1000)
        finally:
            logs.request_id.reset(reset)
        start_response(f"{status} {_reason(status)}", [
            ("Content-Type", ctype), ("Content-Length", str(len(body))), ("X-Request-Id", rid)])
        return [body]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _pairs(text: str) -> dict[str, str]:
    """Url-encoded ``text`` as a dict; a name given twice keeps its first value (as werkzeug's ``to_dict``)."""
    out: dict[str, str] = {}
    if text:
        for k, v in parse_qsl(text, keep_blank_values=True):
            out.setdefault(k, v)
    return out

