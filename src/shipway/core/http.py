"""Helpers every part's HTTP views use: the context, the caller, role checks, bodies.

Access is deny-by-default: :mod:`shipway.server.security` rejects any request
without a valid identity unless its view is marked :func:`public`. A view
states the role it needs with :func:`requires`. Views authenticated by a
session cookie get CSRF checks on unsafe methods; bearer-token calls do not
need them (a browser never sends a bearer token by itself).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, TypeVar

from flask import current_app, g, request

from shipway.core.auth import Identity
from shipway.core.errors import BadRequest, Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])


def context():
    """The :class:`shipway.core.context.Context` of the running app."""
    return current_app.extensions["shipway"]


def current_identity() -> Identity | None:
    return getattr(g, "identity", None)


def public(view: F) -> F:
    """Mark a view as reachable without logging in (webhooks, health, login)."""
    view.shipway_public = True  # type: ignore[attr-defined]
    return view


def csrf_exempt(view: F) -> F:
    """Mark a public, non-browser POST endpoint (webhooks, Nacos login) as exempt from CSRF."""
    view.shipway_csrf_exempt = True  # type: ignore[attr-defined]
    return view


def require(role: str) -> Identity:
    """Return the caller if they hold ``role``; raise 401/403 otherwise."""
    ident = current_identity()
    if ident is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or log in")
    if not ident.can(role):
        raise Forbidden(f"this needs the '{role}' role; '{ident.username}' has '{ident.role}'",
                        details={"needed": role, "role": ident.role})
    return ident


def requires(role: str) -> Callable[[F], F]:
    """Decorator: the view needs ``role`` (see :data:`shipway.core.auth.ROLE_GRANTS`)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            require(role)
            return view(*args, **kwargs)

        inner.shipway_role = role  # type: ignore[attr-defined]
        return inner  # type: ignore[return-value]

    return wrap


def json_body(required: bool = True) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise BadRequest("request body must be a JSON object")
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise BadRequest(f"request body is not valid JSON{where}: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


def client_ip() -> str:
    """The caller's address (shipway listens directly; no proxy headers are trusted)."""
    return request.remote_addr or ""


def paging(default_size: int = 50, max_size: int = 500) -> tuple[int, int]:
    """``(page, size)`` from ``?page=&size=`` (1-based), validated."""
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("size", default_size))
    except ValueError:
        raise BadRequest("page and size must be integers", field="page") from None
    if page < 1:
        raise BadRequest("page must be ≥ 1", field="page")
    if not 1 <= size <= max_size:
        raise BadRequest(f"size must be between 1 and {max_size}", field="size")
    return page, size
