"""Console pages: projects with their webhook URLs, and each project's recent deliveries."""

from __future__ import annotations

from flask import Blueprint, render_template

from shipway.core.http import context, requires
from shipway.pipelines.projects_api import base_url, webhook_urls

bp = Blueprint("projects", __name__, url_prefix="/projects")

STATUS_BADGE = {"queued": "ok", "duplicate": "waiting", "ignored": "", "rejected": "bad", "invalid": "bad",
                "too_large": "bad", "failed": "bad"}


@bp.get("")
@requires("viewer")
def index():
    return render_template("webhook/index.html", projects=context().services["projects"].list())


@bp.get("/<name>")
@requires("viewer")
def detail(name: str):
    ctx = context()
    project = ctx.services["projects"].get(name)
    return render_template("webhook/detail.html", project=project, hooks=webhook_urls(base_url(), name),
                           deliveries=ctx.services["webhook_deliveries"].list(name, 100), badge=STATUS_BADGE)
