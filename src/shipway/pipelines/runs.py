"""Run records: creation (idempotent), the state transition function, views as dicts.

Everything here is plain SQL through the store; it never executes anything.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ContextManager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipway.core.errors import NotFound
from shipway.core.store import Store, utcnow
from shipway.pipelines import statements as sql
from shipway.pipelines.models import ApprovalRow, RunRow, StageRow, StepRow
from shipway.pipelines.states import IllegalTransition, RunState, allowed_from, check_transition

TRIGGERS = ("push", "tag", "manual", "cron", "rerun")


def event_dict(event) -> dict[str, Any]:
    """The PushEvent as JSON (tuples become lists); ``{}`` for none."""
    if event is None:
        return {}
    d = dataclasses.asdict(event)
    d["changed_paths"] = list(d.get("changed_paths") or ())
    return d


def create_run(store: Store, project: str, *, trigger: str, event: dict, params: dict,
               requested_by: str | None, idempotency_key: str | None,
               rerun_of: int | None = None, check: Callable[[Session], Any] | None = None) -> tuple[RunRow, bool]:
    """Insert a queued run; ``(row, duplicate)``. The idempotency key is a UNIQUE column, so two
    concurrent deliveries of the same key race in the database and exactly one insert wins.
    ``check(session)`` runs first in the inserting transaction (it raises to refuse the run)."""
    for _attempt in range(20):
        try:
            with store.session() as s:  # one transaction: duplicate check, project check, number, insert
                if idempotency_key:
                    existing = s.scalars(sql.RUN_BY_KEY, {"b_key": idempotency_key}).first()
                    if existing is not None:
                        return existing, True
                if check is not None:
                    check(s)
                number = (s.execute(sql.LAST_NUMBER, {"b_project": project}).scalar() or 0) + 1
                row = s.connection().execute(sql.RUN_INSERT, {
                    "project": project, "number": number, "status": RunState.QUEUED.value, "trigger": trigger,
                    "idempotency_key": idempotency_key, "event": event, "params": params or {},
                    "requested_by": requested_by, "rerun_of": rerun_of, "created_at": utcnow()}).one()
                return sql.run_row(row), False
        except IntegrityError:
            # Either the key already exists (a duplicate delivery won) or two runs took the same number.
            continue
    raise RuntimeError("could not record the run after 20 attempts (database contention)")


def get_row(store: Store, run_id: int) -> RunRow:
    with store.session() as s:
        row = s.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"no run {run_id}", details={"run": run_id})
        return row


def transition(store: Store, run_id: int, new: RunState, *, expect: RunRow | None = None,
               also: Callable[[Session], None] | None = None,
               transaction: Callable[[], ContextManager[Session]] | None = None, **fields: Any) -> RunRow:
    """Move a run to ``new`` (compare-and-set on the current state); raise on an illegal change.

    ``expect``: the row as the caller last saw it (the engine's own run), tried first without reading it
    again; when it is stale the compare-and-set fails and the run is read. ``also(session)`` runs in the
    same transaction as the change, only when the change is made. ``transaction``: where to make the change
    (default ``store.session``; the engine passes its journal's, which stores the run's pending records first)."""
    if expect is not None and new not in allowed_from(expect.status):
        expect = None  # stale (changed since, e.g. resumed after an approval): read it
    for _ in range(10):
        row, expect = expect or get_row(store, run_id), None
        check_transition(row.status, new)
        values = dict(fields, status=new.value)
        if new.terminal and "finished_at" not in values:
            values["finished_at"] = utcnow()
        if new is RunState.RUNNING and row.started_at is None:
            values.setdefault("started_at", utcnow())
        with (transaction or store.session)() as s:  # UPDATE .. RETURNING: the row as stored, no second read
            changed = sql.run_row(s.connection().execute(sql.run_change(tuple(sorted(values))),
                                                         dict(values, b_run=run_id, b_status=row.status)).first())
            if changed is not None and also is not None:
                also(s)
        if changed is not None:
            return changed
    raise IllegalTransition(f"run {run_id} kept changing state; gave up moving it to {new.value}")


def claim(store: Store, run_id: int, executor_id: str) -> RunRow | None:
    """Take a queued run for ``executor_id``: the run as claimed, or ``None`` if it is not queued any more
    (someone else has it). UPDATE .. RETURNING: the claim and the read the engine starts with are one statement."""
    with store.session() as s:
        return sql.run_row(s.connection().execute(
            sql.CLAIM, {"b_run": run_id, "b_executor": executor_id, "b_now": utcnow()}).first())


def _iso(t) -> str | None:
    return t.isoformat() if t else None


def duration(row) -> float | None:
    if row.started_at and row.finished_at:
        return round((row.finished_at - row.started_at).total_seconds(), 3)
    return None


def run_dict(row: RunRow, base_url: str = "", *, full: bool = False, store: Store | None = None) -> dict[str, Any]:
    ev = row.event or {}
    d: dict[str, Any] = {
        "id": row.id, "number": row.number, "project": row.project, "status": row.status,
        "trigger": row.trigger, "branch": ev.get("branch") or (row.params or {}).get("branch"),
        "tag": ev.get("tag"), "commit": ev.get("commit"), "message": ev.get("message"), "author": ev.get("author"),
        "requested_by": row.requested_by, "reason": row.reason, "rerun_of": row.rerun_of,
        "created_at": _iso(row.created_at), "started_at": _iso(row.started_at), "finished_at": _iso(row.finished_at),
        "duration": duration(row), "url": f"{base_url}/runs/{row.id}", "params": row.params or {},
    }
    if full and store is not None:
        d["errors"] = row.errors or []
        d["stages"], d["approvals"] = stages_of(store, row.id), approvals_of(store, row.id)
    return d


def stages_of(store: Store, run_id: int) -> list[dict[str, Any]]:
    with store.session() as s:
        stages = s.scalars(select(StageRow).where(StageRow.run_id == run_id).order_by(StageRow.position,
                                                                                      StageRow.id)).all()
        steps = s.scalars(select(StepRow).where(StepRow.run_id == run_id).order_by(StepRow.id)).all()
    out = []
    for st in stages:
        out.append({"name": st.name, "kind": st.kind, "parent": st.parent, "status": st.status,
                    "detail": st.detail or {}, "started_at": _iso(st.started_at), "finished_at": _iso(st.finished_at),
                    "duration": duration(st),
                    "steps": [{"id": sp.id, "name": sp.name, "status": sp.status, "exit_code": sp.exit_code,
                               "attempts": sp.attempts, "junit": sp.junit, "started_at": _iso(sp.started_at),
                               "finished_at": _iso(sp.finished_at), "duration": duration(sp)}
                              for sp in steps if sp.stage == st.name]})
    return out


def approval_dict(a: ApprovalRow) -> dict[str, Any]:
    return {"id": a.id, "run_id": a.run_id, "stage": a.stage, "message": a.message, "status": a.status,
            "approvers": {"users": a.users or [], "roles": a.roles or []},
            "requester_may_not_approve": a.requester_may_not_approve, "inputs": a.inputs or [],
            "on_timeout": a.on_timeout, "deadline": _iso(a.deadline), "decided_by": a.decided_by,
            "decided_at": _iso(a.decided_at), "comment": a.comment, "values": a.values or {},
            "created_at": _iso(a.created_at)}


def approvals_of(store: Store, run_id: int) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(select(ApprovalRow).where(ApprovalRow.run_id == run_id).order_by(ApprovalRow.id)).all()
    return [approval_dict(a) for a in rows]
