"""Who is calling, deny-by-default, and CSRF.

Identity sources, in order: ``Authorization: Bearer <token>``; an
``accessToken`` query/form parameter (the Nacos Open API's way); the session
cookie set by the login page. A view not marked ``@public`` needs an
identity. Unsafe methods that rely on the cookie (or are public forms such as
login) must carry the CSRF token (form field ``csrf_token`` or the
``X-CSRFToken`` header).
"""

from __future__ import annotations

from flask import Flask, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from shipway.core.errors import Unauthorized
from shipway.core.http import context
from shipway.server.errors import wants_json

csrf = CSRFProtect()
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or ``None`` for any other value."""
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def _bearer() -> str | None:
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is not None:
        return token
    return request.args.get("accessToken") or None


def _resolve():
    ctx = context()
    token = _bearer()
    # Nacos clients may send accessToken as a form field. Only look on the Nacos paths: parsing the
    # form elsewhere would consume bodies that webhook views must verify byte for byte.
    if token is None and request.path.startswith("/nacos/") and request.method in _UNSAFE \
            and request.mimetype == "application/x-www-form-urlencoded":
        token = request.form.get("accessToken") or None
    if token is not None:
        ident = ctx.users.resolve_token(token)
        if ident is None:
            raise Unauthorized("invalid, expired or revoked token")
        return ident
    user_id = session.get("user_id")
    if user_id is not None:
        ident = ctx.users.identity(user_id)
        if ident is None:
            session.clear()
        return ident
    return None


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, but a request without the session cookie (API clients with a token:
    most of the traffic) gets its empty session without building the cookie signer first (a few percent
    of a small API request's CPU). A cookie, when present, is verified exactly as before."""

    def open_session(self, app: Flask, request):
        # No Cookie header at all (the usual API call) is known without parsing one.
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = CookieSessions()
    csrf.init_app(app)

    @app.before_request
    def _authenticate():
        g.identity = None
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        is_public = view is None or getattr(view, "shipway_public", False)
        g.identity = _resolve()
        if g.identity is None and not is_public:
            if request.method == "GET" and not wants_json():
                # Console pages send people to the login page instead of answering 401.
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or log in")
        if request.method in _UNSAFE and view is not None:
            via_cookie = g.identity is not None and g.identity.via == "session"
            public_form = g.identity is None and not getattr(view, "shipway_csrf_exempt", False)
            if via_cookie or public_form:
                csrf.protect()
