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


#: Where each page sits in the navigation, whatever order the parts register in.
NAV_ORDER = ["web.dashboard", "projects.index", "pipelines.runs", "pipelines.approvals", "deployments.index",
             "services.index", "configs.index"]


def _section(fn):
    """Run one dashboard query; a failing part shows its error instead of breaking the page."""
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001 - the dashboard must render even when a part is down
        return None, str(e) or e.__class__.__name__


def dashboard_data(ctx) -> dict:
    """Everything the dashboard shows, read through the parts' public services."""
    svc = ctx.services
    data: dict = {}
    if "projects" in svc:
        data["projects"], data["projects_error"] = _section(lambda: [p.to_dict() for p in svc["projects"].list()])
    if "pipelines" in svc:
        data["runs"], data["runs_error"] = _section(lambda: svc["pipelines"].list_runs(size=10))
        data["approvals"], _ = _section(lambda: svc["pipelines"].pending_approvals())
    if "orchestrator" in svc:
        data["deployments"], data["deployments_error"] = _section(lambda: svc["orchestrator"].list_deployments())
    return data


@bp.get("/")
def dashboard():
    ctx = context()
    ok, checks = readiness(ctx)
    return render_template("dashboard.html", ready=ok, checks=checks, **dashboard_data(ctx))


def register(app: Flask, ctx) -> None:
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(_templates()))])

    @app.context_processor
    def _globals():
        ident = current_identity()
        order = {e: i for i, e in enumerate(NAV_ORDER)}
        visible = [(e, label) for e, label, role in NAV if ident is not None and ident.can(role)]
        nav = sorted(visible, key=lambda item: order.get(item[0], len(order)))
        return {"identity": ident, "nav": nav, "version": __version__}

    app.register_blueprint(bp)


def _templates():
    from pathlib import Path
    return Path(__file__).parent / "templates"
