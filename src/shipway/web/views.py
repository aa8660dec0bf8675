"""Console pages: login/logout and the dashboard shell.

Other parts add their pages to the navigation with :func:`add_nav`.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from jinja2 import ChoiceLoader, FileSystemLoader

from shipway import __version__
from shipway.core.http import context, current_identity, public
from shipway.server.ops import readiness

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static")

#: (endpoint, label, role needed) shown in the top navigation, in order.
NAV: list[tuple[str, str, str]] = [("web.dashboard", "Dashboard", "viewer")]


def add_nav(endpoint: str, label: str, role: str = "viewer") -> None:
    """Add a console page to the navigation bar."""
    NAV.append((endpoint, label, role))


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: an open redirect would make the login page a phishing tool.
    if not target or urlparse(target).netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.dashboard")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error = None
    if request.method == "POST":
        ident = context().users.authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if ident is None:
            error = "Wrong username or password."
        else:
            session.clear()
            session["user_id"] = ident.user_id
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("web.login"))


@bp.get("/")
def dashboard():
    ok, checks = readiness(context())
    return render_template("dashboard.html", ready=ok, checks=checks)


def register(app: Flask, ctx) -> None:
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(_templates()))])

    @app.context_processor
    def _globals():
        ident = current_identity()
        nav = [(e, label) for e, label, role in NAV if ident is not None and ident.can(role)]
        return {"identity": ident, "nav": nav, "version": __version__}

    app.register_blueprint(bp)


def _templates():
    from pathlib import Path
    return Path(__file__).parent / "templates"
