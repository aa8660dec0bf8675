"""Approval gates: the approve stage waiting, and people deciding.

The gate is a row in ``pipeline_approvals`` (unique per run and stage). The
engine thread waits on an in-process event with a short poll of SQL, so a
decision made through another process (or after a restart) is seen too. A
decision is an atomic ``UPDATE … WHERE status='pending'``: two people clicking
at once give one decision and one 409.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import select, update

from shipway.core.auth import Identity, has_role
from shipway.core.errors import BadRequest, Conflict, Forbidden, NotFound
from shipway.core.store import utcnow
from shipway.pipelines import spec
from shipway.pipelines.models import ApprovalRow, RunRow
from shipway.pipelines.runs import approval_dict
from shipway.pipelines.states import RunState

POLL = 0.5
_events: dict[int, threading.Event] = {}
_events_lock = threading.Lock()


def _event(approval_id: int) -> threading.Event:
    with _events_lock:
        return _events.setdefault(approval_id, threading.Event())


def may_decide(a: ApprovalRow, run: RunRow, ident: Identity) -> tuple[bool, str]:
    """Whether ``ident`` may approve/reject; ``(False, why)`` otherwise."""
    if a.requester_may_not_approve and run.requested_by and ident.username == run.requested_by:
        return False, "who started the run may not approve it"
    if ident.role == "admin":
        return True, ""
    users, roles = a.users or [], a.roles or []
    if not users and not roles:
        return (True, "") if has_role(ident.role, "approver") else (False, "needs the approver role")
    if ident.username in users or any(has_role(ident.role, r) for r in roles):
        return True, ""
    return False, f"only {', '.join(users + [f'role {r}' for r in roles])} may decide"


def wait_for_decision(runner, stage: dict, env: dict) -> tuple[str, dict]:
    """The approve stage: record the gate, notify, wait; ``(stage status, detail)``."""
    rc, eng, svc = runner.rc, runner.engine, runner.svc
    name = stage["name"]
    timeout = spec.parse_duration(stage.get("timeout"))
    with eng.store.session() as s:
        a = s.scalar(select(ApprovalRow).where(ApprovalRow.run_id == rc.row.id, ApprovalRow.stage == name))
        created = a is None
        if a is None:
            appr = stage.get("approvers") or {}
            a = ApprovalRow(run_id=rc.row.id, stage=name, message=stage.get("message") or f"Approve {name}?",
                            users=appr.get("users") or [], roles=appr.get("roles") or [],
                            requester_may_not_approve=bool(stage.get("requester_may_not_approve")),
                            inputs=stage.get("inputs") or [], on_timeout=stage.get("on_timeout") or "abort",
                            deadline=utcnow() + dt.timedelta(seconds=timeout) if timeout else None)
            s.add(a)
            s.flush()
        approval_id = a.id
    if created or runs_status(eng.store, rc.row.id) == RunState.RUNNING.value:
        svc.set_waiting(rc.row.id, name)
        w = eng.writer(rc, None)
        w.line(f"waiting for approval of '{name}': {stage.get('message') or ''}")
        w.close()
        svc.notify(rc.row.project, "approval.waiting", {"run": svc.run(rc.row.id), "stage": name,
                                                        "url": rc.url})
    ev = _event(approval_id)
    while True:
        with eng.store.session() as s:
            a = s.get(ApprovalRow, approval_id)
            status, deadline = a.status, a.deadline
            values, decided_by, comment = dict(a.values or {}), a.decided_by, a.comment
        if status == "pending" and deadline and utcnow() >= (deadline if deadline.tzinfo else
                                                           deadline.replace(tzinfo=dt.timezone.utc)):
            with eng.store.session() as s:
                res = s.execute(update(ApprovalRow).where(ApprovalRow.id == approval_id, ApprovalRow.status == "pending")
                                .values(status="timed-out", decided_at=utcnow(), decided_by="timeout"))
            if res.rowcount == 1:
                outcome = a.on_timeout
                svc.resume(rc.row.id)
                rc.ctl.reason = f"approval '{name}' timed out"
                return ("aborted" if outcome == "abort" else "failed"), {"approval": "timed-out"}
            continue
        if status != "pending":
            svc.resume(rc.row.id)
            if status == "approved":
                for k, v in values.items():
                    rc.approval_env[f"INPUT_{k.upper()}"] = str(v)
                return "succeeded", {"approval": "approved", "by": decided_by, "comment": comment, "inputs": values}
            rc.ctl.reason = f"'{name}' was {status} by {decided_by}"
            return ("aborted" if status in ("rejected", "cancelled") else "failed"), {
                "approval": status, "by": decided_by, "comment": comment}
        if rc.ctl.deadline is not None and time.monotonic() >= rc.ctl.deadline:  # the pipeline timeout
            with eng.store.session() as s:
                s.execute(update(ApprovalRow).where(ApprovalRow.id == approval_id, ApprovalRow.status == "pending")
                          .values(status="timed-out", decided_at=utcnow(), decided_by="pipeline timeout"))
            svc.resume(rc.row.id)
            return "timed-out", {"approval": "timed-out"}
        if svc.stopping.is_set() or (rc.ctl.cancelled.is_set() and rc.ctl.reason == "interrupted"):
            return "waiting", {}  # shipway is stopping: the gate stays pending for the next start
        if rc.ctl.cancelled.is_set():
            with eng.store.session() as s:
                s.execute(update(ApprovalRow).where(ApprovalRow.id == approval_id, ApprovalRow.status == "pending")
                          .values(status="cancelled", decided_at=utcnow(), decided_by="shipway"))
            return "aborted", {"approval": "cancelled"}
        ev.wait(POLL)
        ev.clear()


def runs_status(store, run_id: int) -> str:
    with store.session() as s:
        return s.scalar(select(RunRow.status).where(RunRow.id == run_id))


def decide(store, run_id: int, stage: str, ident: Identity, approve: bool, comment: str = "",
           values: dict | None = None) -> dict:
    """Record a decision if ``ident`` may make it; raise Forbidden/Conflict/NotFound otherwise."""
    with store.session() as s:
        a = s.scalar(select(ApprovalRow).where(ApprovalRow.run_id == run_id, ApprovalRow.stage == stage))
        run = s.get(RunRow, run_id)
        if a is None or run is None:
            raise NotFound(f"run {run_id} has no approval '{stage}'")
        ok, why = may_decide(a, run, ident)
        if not ok:
            raise Forbidden(f"{ident.username} may not decide '{stage}' of run {run_id}: {why}")
        if a.status != "pending":
            raise Conflict(f"'{stage}' of run {run_id} was already decided ({a.status} by {a.decided_by})")
        inputs = a.inputs or []
    vals: dict[str, str] = {}
    if approve:
        given = values or {}
        unknown = set(given) - {i["name"] for i in inputs}
        if unknown:
            raise BadRequest(f"unknown input(s) {sorted(unknown)}", field="values")
        for i in inputs:
            v = str(given.get(i["name"], i.get("default", "")))
            if i.get("choices") and v not in i["choices"]:
                raise BadRequest(f"input {i['name']} must be one of {i['choices']}", field=f"values.{i['name']}")
            vals[i["name"]] = v
    with store.session() as s:
        res = s.execute(update(ApprovalRow).where(ApprovalRow.id == a.id, ApprovalRow.status == "pending").values(
            status="approved" if approve else "rejected", decided_by=ident.username, decided_at=utcnow(),
            comment=(comment or "")[:2000], values=vals))
        if res.rowcount != 1:
            raise Conflict(f"'{stage}' of run {run_id} was decided by someone else a moment ago")
    _event(a.id).set()
    with store.session() as s:
        return approval_dict(s.get(ApprovalRow, a.id))


def pending(store) -> list[tuple[ApprovalRow, RunRow]]:
    with store.session() as s:
        rows = s.execute(select(ApprovalRow, RunRow).join(RunRow, RunRow.id == ApprovalRow.run_id)
                         .where(ApprovalRow.status == "pending").order_by(ApprovalRow.id)).all()
        return [(a, r) for a, r in rows]
