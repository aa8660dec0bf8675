"""Console pages: runs list, run view (stages, logs, approvals), the Approvals page.

Approve/reject forms post to the page routes below (session + CSRF); the
server checks the approval's own rules — the disabled button in the page is
a courtesy, not the check.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from shipway.core.errors import ShipwayError
from shipway.core.http import context, current_identity, requires
from shipway.pipelines import logs
from shipway.pipelines.approvals import may_decide
from shipway.pipelines.runs import approval_dict, run_dict

bp = Blueprint("pipelines", __name__)


def _svc():
    return context().services["pipelines"]


def add_pages_nav() -> None:
    from shipway.web.views import NAV, add_nav
    if not any(e[0] == "pipelines.runs" for e in NAV):  # NAV is module-wide; apps are built often
        add_nav("pipelines.runs", "Runs", "viewer")
        add_nav("pipelines.approvals", "Approvals", "viewer")


def _log_text(run_id: int, limit_chars: int = 200_000) -> str:
    text, after = [], 0
    while True:
        chunks = logs.read_chunks(_svc().store, run_id, after, limit=500)
        if not chunks:
            break
        text.extend(c[2] for c in chunks)
        after = chunks[-1][0]
        if sum(map(len, text)) > limit_chars:
            text.append("\n… (truncated; see the API for the full log)\n")
            break
    return "".join(text)


@bp.get("/runs")
@requires("viewer")
def runs():
    return render_template("pipelines/runs.html", runs=_svc().list_runs(request.args.get("project"), None, 1, 100))


@bp.get("/runs/<int:run_id>")
@requires("viewer")
def run_view(run_id: int):
    svc = _svc()
    run = svc.run(run_id, full=True)
    ident = current_identity()
    decidable = {}
    for a, r in svc.pending_approvals():
        if a.run_id == run_id:
            decidable[a.stage] = may_decide(a, r, ident)
    return render_template("pipelines/run.html", run=run, log=_log_text(run_id), decidable=decidable)


@bp.get("/approvals")
@requires("viewer")
def approvals():
    svc, ident = _svc(), current_identity()
    items = []
    for a, r in svc.pending_approvals():
        ok, why = may_decide(a, r, ident)
        items.append({"approval": approval_dict(a), "run": run_dict(r, svc.base_url, full=True, store=svc.store),
                      "can_decide": ok, "why_not": why, "log": _log_text(r.id, 20_000)})
    return render_template("pipelines/approvals.html", items=items)


@bp.post("/runs/<int:run_id>/approvals/<stage>/decide")
@requires("viewer")
def decide(run_id: int, stage: str):
    decision = request.form.get("decision")
    values = {k[len("input_"):]: v for k, v in request.form.items() if k.startswith("input_")}
    try:
        _svc().decide(run_id, stage, current_identity(), decision == "approve", request.form.get("comment", ""),
                      values)
    except ShipwayError as e:
        return render_template("error.html", status=e.status, code=str(getattr(e, "code", None) or "error"), message=e.message), e.status
    return redirect(url_for("pipelines.run_view", run_id=run_id))


@bp.post("/runs/<int:run_id>/cancel-page")
@requires("developer")
def cancel(run_id: int):
    try:
        _svc().cancel(run_id, by=current_identity().username)
    except ShipwayError as e:
        return render_template("error.html", status=e.status, code=str(getattr(e, "code", None) or "error"), message=e.message), e.status
    return redirect(url_for("pipelines.run_view", run_id=run_id))

