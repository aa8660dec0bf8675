"""Console page "Configs": browse, edit (validation errors shown inline), history, diff, rollback, beta."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from shipway.config_center.validate import DEFAULT_GROUP, DEFAULT_NAMESPACE, TYPES
from shipway.core.errors import NotFound, ShipwayError, ValidationFailed
from shipway.core.http import client_ip, context, current_identity, require, requires

bp = Blueprint("configs", __name__, url_prefix="/configs")


def _svc():
    return context().services["config"]


def _who() -> dict:
    ident = current_identity()
    return {"author": ident.username if ident else "", "source_ip": client_ip()}


@bp.get("/")
@requires("viewer")
def index():
    ns = request.args.get("namespace") or DEFAULT_NAMESPACE
    pattern = request.args.get("dataId") or ""
    error, items, total, namespaces = None, [], 0, [DEFAULT_NAMESPACE]
    try:
        namespaces = [n["namespace"] for n in _svc().namespaces()]
        total, items = _svc().list_configs(namespace=ns, data_id=pattern or None,
                                           group=request.args.get("group") or None, page=1, size=500)
    except ShipwayError as e:
        error = e.message
    return render_template("config/index.html", ns=ns, pattern=pattern, items=items, total=total,
                           namespaces=namespaces, error=error, types=TYPES, group=request.args.get("group") or "")


@bp.get("/<ns>/<group>/<data_id>")
@requires("viewer")
def detail(ns: str, group: str, data_id: str):
    svc = _svc()
    item = svc.get(ns, group, data_id)
    _, hist = svc.history(ns, group, data_id, size=100)
    try:
        beta = svc.beta_get(ns, group, data_id)
    except NotFound:
        beta = None
    diff = None
    if request.args.get("from"):
        try:
            diff = svc.diff(ns, group, data_id, int(request.args["from"]),
                            int(request.args["to"]) if request.args.get("to") else None)
        except (ShipwayError, ValueError) as e:
            flash(getattr(e, "message", str(e)))
    return render_template("config/detail.html", item=item, history=hist, beta=beta, diff=diff, types=TYPES,
                           errors=[], draft=None)


@bp.post("/save")
@requires("developer")
def save():
    """Publish from the edit form; invalid content re-renders the form with the errors next to it."""
    f = request.form
    ns, group, data_id = f.get("namespace") or DEFAULT_NAMESPACE, f.get("group") or DEFAULT_GROUP, f.get("dataId", "")
    svc = _svc()
    try:
        require(svc.write_role(ns))
        item = svc.publish(ns, group, data_id, f.get("content", "").replace("\r\n", "\n"), f.get("type") or "text",
                           cas_md5=f.get("casMd5") or None, desc=f.get("desc"), tags=f.get("tags"), **_who())
    except ShipwayError as e:
        errors = e.errors if isinstance(e, ValidationFailed) else [{"message": e.message}]
        draft = {"namespace": ns, "group": group, "dataId": data_id, "content": f.get("content", ""),
                 "type": f.get("type"), "md5": f.get("casMd5", ""), "desc": f.get("desc", ""),
                 "tags": [t for t in (f.get("tags") or "").split(",") if t], "version": None}
        try:
            current = svc.get(ns, group, data_id)
            _, hist = svc.history(ns, group, data_id, size=100)
        except ShipwayError:
            current, hist = None, []
        return render_template("config/detail.html", item=current or draft, history=hist, beta=None, diff=None,
                               types=TYPES, errors=errors, draft=draft), e.status
    flash(f"published version {item['version']}")
    return redirect(url_for("configs.detail", ns=ns, group=group, data_id=data_id))


@bp.post("/<ns>/<group>/<data_id>/action")
@requires("developer")
def action(ns: str, group: str, data_id: str):
    svc, f = _svc(), request.form
    act = f.get("action")
    target = url_for("configs.detail", ns=ns, group=group, data_id=data_id)
    try:
        require(svc.write_role(ns))
        if act == "rollback":
            item = svc.rollback(ns, group, data_id, int(f.get("version", "0")), **_who())
            flash(f"rolled back to the content of version {f.get('version')}: now version {item['version']}")
        elif act == "delete":
            svc.delete(ns, group, data_id, **_who())
            flash(f"deleted {data_id}")
            return redirect(url_for("configs.index", namespace=ns))
        elif act == "beta":
            labels = dict(p.split("=", 1) for p in (f.get("labels") or "").split(",") if "=" in p)
            svc.beta_publish(ns, group, data_id, f.get("content", "").replace("\r\n", "\n"), ips=f.get("ips"),
                             labels=labels, **_who())
            flash("beta published")
        elif act == "promote":
            flash(f"beta promoted: version {svc.beta_promote(ns, group, data_id, **_who())['version']}")
        elif act == "stop":
            svc.beta_stop(ns, group, data_id, **_who())
            flash("beta stopped")
        else:
            flash(f"unknown action {act!r}")
    except (ShipwayError, ValueError) as e:
        flash("error: " + getattr(e, "message", str(e)))
    return redirect(target)
