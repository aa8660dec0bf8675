"""A WSGI fast lane: the few hot, simple API calls answered without going through Flask.

Some calls arrive at machine rates from clients that are not people: Nacos clients register, deregister
and beat (every instance, every 5 s). Measured on the registration benchmark (bench/registry_register.py,
2026-11-24), Flask's request handling — routing, the request and app contexts, the before/after hooks,
the form parser, the ``Response`` object — was a third of the server's CPU for a registration: 0.86 ms
per registration through Flask, 0.59 ms through this lane, for the same work.

Config publishes through the native API (``PUT /api/v1/configs/…``, what the CLI, the console and scripts
send) take the lane too: 0.58 → 0.38 ms of server CPU per publish (bench/config_publish_throughput.py).

A :class:`Route` names a method, a path (exact, or with ``<name>`` segments), the role it needs, the kind of
body it takes (url-encoded form or JSON object) and a handler that takes the :class:`Call` — the request's
values (query and form parameters, the query's winning), path parameters, JSON body, caller — and returns
the answer. The lane takes a request only when it is plainly the happy path: a route it knows, a body of
that kind and of bounded size (a JSON route needs one; a form route may have none), and an API token —
``Authorization: Bearer`` or Nacos's ``accessToken`` parameter — whose identity holds the route's role
(and passes its ``allowed`` check). Everything else goes to Flask with the body put back, so that one place
answers every unusual case: no token, a bad one, a missing role (401/403), a cookie session (CSRF), other
content types, invalid JSON, chunked or large bodies. In the lane a request gets what Flask gives it: a request id
(``X-Request-Id``, also in the log records), the request metrics, the request log line, and the route's
error answers (or the app's JSON 500 for an unexpected error).
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Mapping, Union
from urllib.parse import parse_qsl

from shipway.core import logs
from shipway.core.errors import ShipwayError
from shipway.server.errors import INTERNAL_MESSAGE, error_json
from shipway.server.ops import LATENCY, REQUESTS, new_request_id
from shipway.server.security import bearer_token

log = logging.getLogger("shipway.server.ops")  # the request log lines are the ops module's
MAX_BODY = 64 << 10  # larger bodies go to Flask (which enforces the app's own limit)
FORM = "application/x-www-form-urlencoded"

#: What a handler returns: ``(status, content type, body)``, optionally with more response headers.
Answer = Union[tuple[int, str, bytes], tuple[int, str, bytes, list[tuple[str, str]]]]
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
_PARAM = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


@dataclass
class Call:
    """What a lane handler gets: the request's parameters, body and caller."""

    values: dict[str, str]  # query and form parameters, the query's winning
    params: dict[str, str]  # the path's ``<name>`` segments
    json: dict[str, Any] | None  # the body of a JSON route (None for a form route)
    identity: Any  # shipway.core.auth.Identity
    environ: Mapping[str, Any]

    @property
    def remote_addr(self) -> str:
        return self.environ.get("REMOTE_ADDR", "")

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))


@dataclass(frozen=True)
class Route:
    """A call the lane answers: ``handler(call)`` runs it, ``on_error(e)`` answers a :class:`ShipwayError`.

    ``path`` is exact, or has ``<name>`` segments (one path segment each, as Flask's default converter).
    ``body`` is ``"form"`` (url-encoded) or ``"json"`` (a JSON object). ``allowed(call)``, if given, is a
    further permission check; when it fails Flask answers (the usual 403)."""

    method: str
    path: str
    endpoint: str  # the Flask endpoint name of the same call: its metrics and log lines are the same
    role: str
    handler: Callable[[Call], Answer]
    on_error: Callable[[ShipwayError], Answer]
    body: str = "form"
    allowed: Callable[[Call], bool] | None = None

    def pattern(self) -> re.Pattern | None:
        """The path as a regular expression, or None for an exact path."""
        if "<" not in self.path:
            return None
        parts = _PARAM.split(self.path)  # literal, name, literal, name, …, literal
        return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)"
                                  for i, part in enumerate(parts)) + r"\Z")


def json_answer(data) -> Answer:
    """A 200 JSON answer, compact as Flask's ``jsonify`` writes it."""
    return 200, JSON, json.dumps(data, separators=(",", ":")).encode()


def house_error(e: ShipwayError) -> Answer:
    """The native APIs' error answer (``{"error", "message", "details"}``), as the app's error handler writes it."""
    return e.status, JSON, error_json(e.code, e.message, e.details)


class FastLane:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app, users) -> None:
        self.app, self.users = app, users
        self.routes: dict[tuple[str, str], Route] = {}
        self._patterns: list[tuple[str, re.Pattern, Route]] = []
        self._children: dict[tuple[str, str, int], tuple] = {}

    def add(self, route: Route) -> None:
        pattern = route.pattern()
        if pattern is None:
            self.routes[(route.method, route.path)] = route
        else:
            self._patterns.append((route.method, pattern, route))

    def __call__(self, environ, start_response):
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        route, params = self.routes.get((method, path)), {}
        if route is None:
            for m, pattern, candidate in self._patterns:
                match = pattern.match(path) if m == method else None
                if match:
                    # WSGI gives the path as latin-1 text of its bytes; werkzeug decodes them as UTF-8
                    route, params = candidate, {k: v.encode("latin-1").decode("utf-8", "replace")
                                                for k, v in match.groupdict().items()}
                    break
            else:
                return self.app(environ, start_response)
        call = self._take(environ, route, params)
        if call is None:
            return self.app(environ, start_response)
        return self._serve(route, call, environ, start_response)

    def _take(self, environ, route: Route, params: dict[str, str]) -> Call | None:
        """The request as a :class:`Call` if the lane answers it, else ``None`` (the body is put back for Flask)."""
        if "HTTP_TRANSFER_ENCODING" in environ:
            return None  # chunked: Flask reads it
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        body = b""
        if length:
            ctype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
            if length > MAX_BODY or ctype != (JSON if route.body == "json" else FORM):
                return None
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)  # for Flask, if the lane declines after all
        data = None
        if route.body == "json":
            if not body:
                return None  # Flask says that a JSON object is needed
            try:
                data = json.loads(body)
            except ValueError:
                return None  # Flask says where the JSON is wrong
            if not isinstance(data, dict):
                return None
            values: dict[str, str] = {}
        else:
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
        call = Call(values, params, data, ident, environ)
        try:
            if route.allowed is not None and not route.allowed(call):
                return None  # 403 with its usual body
        except Exception:  # noqa: BLE001 - e.g. a bad name in the path: Flask answers it
            return None
        return call

    def _serve(self, route: Route, call: Call, environ, start_response):
        t0 = time.perf_counter()
        rid = environ.get("HTTP_X_REQUEST_ID", "")[:64] or new_request_id()
        reset = logs.request_id.set(rid)
        try:
            try:
                answer = route.handler(call)
            except ShipwayError as e:
                if e.status >= 500:
                    log.error("%s: %s", e.code, e.message)
                answer = route.on_error(e)
            except Exception:  # noqa: BLE001 - answered like the app's own handler of unexpected errors
                logging.getLogger("shipway.server.errors").exception(
                    "unhandled error on %s %s", route.method, environ.get("PATH_INFO", ""))
                answer = 500, JSON, error_json("internal_error", INTERNAL_MESSAGE)
            status, ctype, body = answer[:3]
            elapsed = time.perf_counter() - t0
            counter, latency, status_line = self._per_status(route, status)
            counter.inc()
            latency.observe(elapsed)
            log.info("%s %s %s %.1fms", route.method, environ.get("PATH_INFO", ""), status, elapsed * 1000)
        finally:
            logs.request_id.reset(reset)
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        if len(answer) > 3:
            headers.extend(answer[3])  # type: ignore[misc]
        headers.append(("X-Request-Id", rid))
        start_response(status_line, headers)
        return [body]

    def _per_status(self, route: Route, status: int):
        """The request counter and latency histogram of ``route`` and ``status``, and its status line (looked
        up once: prometheus_client's ``labels()`` takes a lock and checks its arguments on every call)."""
        key = (route.method, route.endpoint, status)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = (REQUESTS.labels(route.method, route.endpoint, str(status)),
                                           LATENCY.labels(route.method, route.endpoint),
                                           f"{status} {_reason(status)}")
        return found


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

