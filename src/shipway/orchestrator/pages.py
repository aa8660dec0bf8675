"""Console page "Deployments": deployments with their pods; scale, rollback, pod logs."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from shipway.core.errors import ShipwayError
from shipway.core.http import context, requires
from shipway.orchestrator.tables import human_age, pod_status_reason

bp = Blueprint("deployments", __name__, url_prefix="/deployments")


def _svc():
    return context().services["orchestrator"]


@bp.get("/")
@requires("viewer")
def index():
    rows, error = [], None
    try:
        pods = _svc().list_pods()
        for d in _svc().list_deployments():
            m, st = d["metadata"], d.get("status") or {}
            sel = (d["spec"].get("selector") or {}).get("matchLabels") or {}
            mine = [p for p in pods if p["metadata"]["namespace"] == m["namespace"]
                    and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())]
            rows.append({"ns": m["namespace"], "name": m["name"], "replicas": d["spec"].get("replicas", 0),
                         "ready": st.get("readyReplicas", 0), "updated": st.get("updatedReplicas", 0),
                         "available": st.get("availableReplicas", 0), "age": human_age(m.get("creationTimestamp")),
                         "images": [c["image"] for c in d["spec"]["template"]["spec"]["containers"]],
                         "conditions": st.get("conditions") or [],
                         "pods": [{"name": p["metadata"]["name"], "status": pod_status_reason(p),
                                   "restarts": sum(c.get("restartCount", 0) for c in
                                                   (p.get("status") or {}).get("containerStatuses") or [])}
                                  for p in mine]})
    except ShipwayError as e:
        error = e.message
    return render_template("deployments/index.html", rows=rows, error=error)


@bp.post("/<ns>/<name>/scale")
@requires("developer")
def scale(ns: str, name: str):
    try:
        _svc().scale(ns, name, int(request.form.get("replicas", "")))
        flash(f"{name} scaled to {request.form.get('replicas')}")
    except (ShipwayError, ValueError) as e:
        flash(f"scale failed: {getattr(e, 'message', e)}")
    return redirect(url_for("deployments.index"))


@bp.post("/<ns>/<name>/rollback")
@requires("developer")
def rollback(ns: str, name: str):
    try:
        _svc().rollback(ns, name)
        flash(f"{name} rolled back to the previous revision")
    except ShipwayError as e:
        flash(f"rollback failed: {e.message}")
    return redirect(url_for("deployments.index"))


@bp.get("/<ns>/pods/<pod>/logs")
@requires("viewer")
def logs(ns: str, pod: str):
    try:
        text = _svc().logs(ns, pod, tail=500)
    except ShipwayError as e:
        text = f"(no logs: {e.message})"
    return render_template("deployments/logs.html", ns=ns, pod=pod, text=text)
