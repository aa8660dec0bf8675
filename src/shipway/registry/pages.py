"""Console page "Services": services, instances, health and weights, with enable/disable and weight edits."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from shipway.core.errors import ShipwayError
from shipway.core.http import context, requires
from shipway.registry import model
from shipway.registry.model import DEFAULT_NAMESPACE

bp = Blueprint("services", __name__, url_prefix="/services")


def _naming():
    return context().services["naming"]


@bp.get("/")
@requires("viewer")
def index():
    naming = _naming()
    ns = model.check_name(request.args.get("namespace") or DEFAULT_NAMESPACE, "namespace")
    error = None
    rows, namespaces = [], []
    try:
        namespaces = naming.namespaces()
        _, items = naming.list_services(ns, page=1, size=500)
        for item in items:
            insts = naming.instances(ns, item["group"], item["name"])
            rows.append({**item, "total": len(insts),
                         "healthy": sum(1 for i in insts if i.get("healthy") and i.get("enabled", True))})
    except ShipwayError as e:
        error = e.message
    return render_template("services/index.html", ns=ns, namespaces=namespaces or [ns], rows=rows, error=error)


@bp.get("/<ns>/<group>/<name>")
@requires("viewer")
def detail(ns: str, group: str, name: str):
    naming = _naming()
    service = naming.get_service(ns, group, name)
    return render_template("services/detail.html", ns=ns, group=group, name=name, service=service,
                           instances=naming.instances(ns, group, name))


@bp.post("/<ns>/<group>/<name>/instances/<iid>")
@requires("developer")
def edit(ns: str, group: str, name: str, iid: str):
    naming = _naming()
    action = request.form.get("action")
    try:
        if action == "enable":
            naming.update_instance(ns, group, name, iid, enabled=True)
        elif action == "disable":
            naming.update_instance(ns, group, name, iid, enabled=False)
        elif action == "weight":
            naming.update_instance(ns, group, name, iid, weight=request.form.get("weight"))
        else:
            flash(f"unknown action {action!r}")
    except ShipwayError as e:
        flash(e.message)
    return redirect(url_for("services.detail", ns=ns, group=group, name=name))
