"""HTTP face of the pipelines part: runs API, approvals API, live logs (SSE), schema, lint.

``register(app, ctx)`` publishes ``ctx.services["pipelines"]``
(:class:`~shipway.pipelines.service.PipelineService`) and adds the executor
component (started only by ``shipway serve``).
"""

from __future__ import annotations

import json
import os
import time

from flask import Blueprint, Response, jsonify, request, stream_with_context

from shipway.core.errors import BadRequest
from shipway.core.http import context, current_identity, json_body, paging, public, requires
from shipway.pipelines import logs, spec
from shipway.pipelines.schema import schema
from shipway.pipelines.states import RunState

bp = Blueprint("pipelines_api", __name__, url_prefix="/api/v1")
SSE_MAX_SECONDS = 3600


def _svc():
    return context().services["pipelines"]


@bp.get("/pipelines/schema.json")
@public
def schema_json():
    """The pipeline file's JSON Schema (public: editors fetch it without a token)."""
    return jsonify(schema())


@bp.post("/pipelines/lint")
@requires("viewer")
def lint():
    """Validate a pipeline file sent as the raw body (YAML); 200 with ok or 400 with every error."""
    text = request.get_data(as_text=True)
    spec.load(text, request.args.get("file") or ".shipway.yml")
    return jsonify({"ok": True})


@bp.get("/runs")
@requires("viewer")
def list_runs():
    page, size = paging()
    return jsonify({"runs": _svc().list_runs(request.args.get("project"), request.args.get("status"), page, size)})


@bp.post("/runs")
@requires("developer")
def start():
    body = json_body()
    project = body.get("project")
    if not isinstance(project, str) or not project:
        raise BadRequest("project is required", field="project")
    params = body.get("params") or {}
    for k in ("branch", "commit"):
        if body.get(k):
            params[k] = body[k]
    run = _svc().start_run(project, event=None, trigger="manual", params=params,
                           requested_by=current_identity().username,
                           idempotency_key=request.headers.get("Idempotency-Key") or None)
    return jsonify(run), 200 if run["duplicate"] else 201


@bp.get("/runs/<int:run_id>")
@requires("viewer")
def show(run_id: int):
    return jsonify(_svc().run(run_id, full=True))


@bp.post("/runs/<int:run_id>/cancel")
@requires("developer")
def cancel(run_id: int):
    return jsonify(_svc().cancel(run_id, by=current_identity().username))


@bp.post("/runs/<int:run_id>/rerun")
@requires("developer")
def rerun(run_id: int):
    return jsonify(_svc().rerun(run_id, current_identity().username)), 201


@bp.get("/approvals")
@requires("viewer")
def pending():
    from shipway.pipelines.approvals import may_decide
    from shipway.pipelines.runs import approval_dict, run_dict
    ident = current_identity()
    out = []
    for a, r in _svc().pending_approvals():
        ok, why = may_decide(a, r, ident)
        out.append(dict(approval_dict(a), run=run_dict(r, _svc().base_url), can_decide=ok, why_not=why))
    return jsonify({"approvals": out})


@bp.post("/runs/<int:run_id>/approvals/<stage>")
@requires("viewer")  # who may decide is the approval's own rule, checked in decide()
def decide(run_id: int, stage: str):
    body = json_body()
    decision = body.get("decision")
    if decision not in ("approve", "reject"):
        raise BadRequest("decision must be 'approve' or 'reject'", field="decision")
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise BadRequest("values must be an object", field="values")
    return jsonify(_svc().decide(run_id, stage, current_identity(), decision == "approve",
                                 str(body.get("comment") or ""), values))


@bp.get("/runs/<int:run_id>/logs")
@requires("viewer")
def get_logs(run_id: int):
    """Stored log chunks after ``?after=<chunk id>`` (JSON), or plain text with ``?format=text``."""
    svc = _svc()
    svc.run(run_id)
    after = request.args.get("after", 0, type=int)
    step = request.args.get("step", type=int)
    chunks = logs.read_chunks(svc.store, run_id, after, step, limit=request.args.get("limit", 200, type=int))
    if request.args.get("format") == "text":
        return Response("".join(c[2] for c in chunks), mimetype="text/plain")
    return jsonify({"chunks": [{"id": i, "step": s, "text": t} for i, s, t in chunks],
                    "next": chunks[-1][0] if chunks else after})


@bp.get("/runs/<int:run_id>/logs/stream")
@requires("viewer")
def stream_logs(run_id: int):
    """Server-sent events: ``log`` events ({id, step, text}), ``status`` on changes, ``end`` when finished."""
    svc = _svc()
    svc.run(run_id)
    after = request.args.get("after", type=int) or int(request.headers.get("Last-Event-ID", 0) or 0)
    step = request.args.get("step", type=int)

    def gen():
        nonlocal after
        seen, last_status = svc.broker.version, None
        started = time.monotonic()
        yield ": stream start\n\n"
        while time.monotonic() - started < SSE_MAX_SECONDS:
            chunks = logs.read_chunks(svc.store, run_id, after, step)
            for cid, sid, text in chunks:
                after = cid
                yield f"id: {cid}\nevent: log\ndata: {json.dumps({'id': cid, 'step': sid, 'text': text})}\n\n"
            status = svc.run(run_id)["status"]
            if status != last_status:
                last_status = status
                yield f"event: status\ndata: {json.dumps({'status': status})}\n\n"
            if RunState(status).terminal and not chunks:
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                return
            if not chunks:
                seen = svc.broker.wait(seen, 1.0)

    return Response(stream_with_context(gen()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def register(app, ctx) -> None:
    """Publish the pipelines service, the API, the pages and the executor."""
    from shipway.pipelines import models  # noqa: F401 - tables on Base before create_all
    from shipway.pipelines.executor import Executor
    from shipway.pipelines.pages import bp as pages_bp, add_pages_nav
    from shipway.pipelines.queue import ZkRunQueue
    from shipway.pipelines.service import PipelineService

    ctx.store.create_all()
    svc = ctx.services.get("pipelines")
    if svc is None or getattr(svc, "ctx", None) is not ctx:
        queue = ZkRunQueue(lambda: ctx.kazoo) if ctx.zk_hosts else None
        svc = PipelineService(ctx, queue)
        ctx.services["pipelines"] = svc
        # Runs one process executes at once (waiting approvals hold a slot too); env, like the orchestrator's knobs.
        executor = Executor(svc, max_runs=max(1, int(os.environ.get("SHIPWAY_PIPELINE_SLOTS", "4") or 4)))
        ctx.services["pipelines_executor"] = executor
        ctx.add_component(executor)
        from shipway.pipelines.cron import CronTriggers
        ctx.add_component(CronTriggers(ctx, svc))
    app.register_blueprint(bp)
    app.register_blueprint(pages_bp)
    add_pages_nav()

