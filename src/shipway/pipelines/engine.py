"""The run engine: executes one claimed run, stage by stage, recording everything.

A run is executed by :meth:`Engine.execute` in its own thread. Steps turn
exceptions into statuses and cleanup (``post``) always runs. The engine can
resume a run at a top-level stage boundary (``RunRow.resume_at``): this is how
a run waiting for approval survives a restart of shipway.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any

from sqlalchemy import select, update

from shipway.core.errors import ShipwayError, ValidationFailed
from shipway.core.store import utcnow
from shipway.pipelines import runs, spec
from shipway.pipelines import statements as sql
from shipway.pipelines.commands import Control
from shipway.pipelines.journal import Journal, PendingId
from shipway.pipelines.logs import LogWriter
from shipway.pipelines.models import RunRow, StageRow
from shipway.pipelines.run_context import RunContext
from shipway.pipelines.stages import StageRunner
from shipway.pipelines.states import RunState, worst

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 6 * 3600.0


class Engine:
    """Executes runs. ``deps`` is the :class:`~shipway.pipelines.service.PipelineService`."""

    def __init__(self, svc) -> None:
        self.svc = svc
        self.store = svc.store

    # -- records ---------------------------------------------------------
    def writer(self, rc: RunContext, step_id: int | None, limit: Any = None) -> LogWriter:
        """A step's (or, with ``step_id`` None, the run's own) log writer; ``limit`` the step's log_limit."""
        if limit is None:
            limit = rc.pipeline.get("log_limit")
        return LogWriter(self.store, self.svc.broker, rc.row.id, step_id, rc.secret_values, journal=rc.journal,
                         limit=None if limit is None else spec.parse_size(limit))

    def stage_record(self, rc: RunContext, name: str, kind: str, position: int, parent: str | None,
                     defer: bool = False) -> None:
        """Record stage ``name`` as running. ``defer``: with the journal's next flush (the caller stores the
        stage's steps right after: one transaction for both) instead of a transaction of its own."""
        now = utcnow()

        def rec(s) -> None:  # prebuilt Core statements (see statements.py): no ORM object for this row
            conn = s.connection()
            if conn.execute(sql.STAGE_RESTART, {"b_run": rc.row.id, "b_name": name, "b_now": now}).rowcount == 0:
                conn.execute(sql.STAGE_INSERT, {"run_id": rc.row.id, "name": name, "kind": kind,
                                                "position": position, "parent": parent, "started_at": now})
        if defer:
            rc.journal.op(rec)
        else:
            rc.journal.flush(extra=rec)

    def finish_stage(self, rc: RunContext, name: str, status: str, detail: dict | None = None) -> None:
        now = utcnow()

        def rec(s) -> None:  # stored with whatever the journal holds: one transaction per stage boundary
            if not detail and s.connection().execute(  # the usual case: one prebuilt UPDATE
                    sql.STAGE_END, {"b_run": rc.row.id, "b_name": name, "b_status": status, "b_now": now}).rowcount:
                return
            row = s.scalar(select(StageRow).where(StageRow.run_id == rc.row.id, StageRow.name == name))
            if row is None:
                row = StageRow(run_id=rc.row.id, name=name, kind="command", position=0)
                s.add(row)
            row.status, row.finished_at = status, now
            if row.started_at is None:
                row.started_at = row.finished_at
            if detail:
                row.detail = {**(row.detail or {}), **detail}
        # Stored with the next flush: the next stage's start or the run's end, an instant later (the watchdog
        # stores it within FLUSH_SECONDS while a post step runs).
        rc.journal.op(rec)
        self.svc.metrics.stage_done(status)

    def new_step(self, rc: RunContext, stage: str, name: str, position: int) -> int:
        return self.new_steps(rc, stage, [name], status="running", first=position)[0]

    def new_steps(self, rc: RunContext, stage: str, labels: list[str], status: str = "pending",
                  first: int = 0, defer: bool = False) -> list[int | PendingId]:
        """Records of a stage's steps, in one transaction (with what the journal holds). ``defer``: stored as
        soon as the first step's process has started (while it runs: see :meth:`Journal.spawned`); the ids
        are then :class:`PendingId` s, which the journal resolves when it stores rows that refer to them."""
        out: list = [PendingId() for _ in labels] if defer else []

        def rec(s) -> None:  # one Core INSERT … RETURNING for all: no ORM objects per step
            if not labels:
                return
            now = utcnow() if status == "running" else None
            by_position = dict((pos, sid) for sid, pos in s.connection().execute(sql.STEPS_INSERT, [
                {"run_id": rc.row.id, "stage": stage, "name": label[:200], "position": first + i, "status": status,
                 "started_at": now, "attempts": 0}
                for i, label in enumerate(labels)]))
            ids = [by_position[first + i] for i in range(len(labels))]
            if defer:
                for ref, sid in zip(out, ids):
                    ref.value = sid
            else:
                out.extend(ids)
        if defer:
            rc.journal.op(rec, urgent=True)
        else:
            rc.journal.flush(extra=rec)
        return out

    def finish(self, rc: RunContext, state: RunState, **kw: Any) -> None:
        """End the run in the transaction that stores what the journal holds (one transaction: the last
        stage's end and the run's), then close the log (finish() aborts steps still recorded running)."""
        try:
            self.svc.finish(rc.row.id, state, expect=rc.row, transaction=rc.journal.transaction, **kw)
        finally:
            rc.journal.close()

    # -- the run ---------------------------------------------------------
    def execute(self, run_id: int, ctl: Control, row: RunRow | None = None) -> None:
        """Run (or resume) a claimed run to a terminal or waiting state (``row``: as claimed). Never raises."""
        journal = Journal(self.store, self.svc.broker, run_id, self.svc.log_dir)
        try:
            self._execute(run_id, ctl, journal, row)
        except Exception as e:  # noqa: BLE001 - a bug must end the run, not leave it running forever
            log.exception("run %s crashed", run_id)
            try:
                try:
                    journal.close()
                except Exception:  # noqa: BLE001
                    log.exception("cannot store the last log of run %s", run_id)
                self.svc.finish(run_id, RunState.FAILED, reason=f"internal error: {e.__class__.__name__}: {e}")
            except Exception:  # noqa: BLE001
                log.exception("cannot record the end of run %s", run_id)

    def _execute(self, run_id: int, ctl: Control, journal: Journal, row: RunRow | None) -> None:
        row = row or runs.get_row(self.store, run_id)
        if row.cancel_requested:
            ctl.cancel("cancelled")
        workspace = self.svc.workspace(run_id)
        workspace.mkdir(parents=True, exist_ok=True)
        project, secrets, credentials = self.svc.project_for_run(row.project)
        pipeline = row.pipeline
        if pipeline is None:
            rc0 = RunContext(row, {}, workspace, secrets, ctl, self.svc.base_url, journal)
            w = self.writer(rc0, None)
            try:
                pipeline, commit = self.svc.load_pipeline(row, project, set(secrets), credentials)
            except ValidationFailed as e:
                errs = e.details.get("errors") or []
                for er in errs:
                    w.line(f"{er.get('file')}:{er.get('line')}:{er.get('column')}: {er.get('path')}: {er['message']}")
                w.close()
                self.finish(rc0, RunState.FAILED, reason=e.message, errors=errs)
                return
            except ShipwayError as e:
                w.line(f"cannot read the pipeline: {e.message}")
                w.close()
                self.finish(rc0, RunState.FAILED, reason=e.message)
                return
            w.close()
            event = dict(row.event or {})
            if commit and not event.get("commit"):
                event["commit"] = commit
            if not event.get("branch") and not event.get("tag") and not (row.params or {}).get("branch"):
                branch = self.svc.branch_of(row, project, commit)  # manual/cron runs show what they build
                if branch:
                    event["branch"] = branch
            if commit and not event.get("message"):  # manual/cron runs: show what is being built
                event.update(self.svc.commit_info(project.name, commit))
            # Stored with the journal's next flush (the first stage's records, or the run's end: every path
            # flushes), not in a transaction of its own.
            journal.op(lambda s, values=dict(b_run=run_id, pipeline=pipeline, event=event, params=row.params):
                       s.connection().execute(sql.RUN_LOADED, values))
            row.pipeline, row.event = pipeline, event  # the detached row, as stored (no re-read)
            cron = getattr(self.svc, "cron", None)
            if cron is not None and not (row.event or {}).get("tag"):
                try:
                    cron.sync(row.project, (row.event or {}).get("branch") or (row.params or {}).get("branch"),
                              pipeline)
                except Exception:  # noqa: BLE001 - schedules must not break the run
                    log.exception("cron sync for %s failed", row.project)
        excluded = spec.trigger_excludes(pipeline, row.trigger, row.event or {}) if row.resume_at is None else None
        if excluded:
            rc0 = RunContext(row, pipeline, workspace, secrets, ctl, self.svc.base_url, journal)
            w = self.writer(rc0, None)
            w.line(f"not running: {excluded}")
            w.close()
            self.finish(rc0, RunState.SKIPPED, reason=excluded)
            return
        if row.resume_at is None:
            self.svc.report_state(row, "running")
        rc = RunContext(row, pipeline, workspace, secrets, ctl, self.svc.base_url, journal)
        timeout = spec.parse_duration(pipeline.get("timeout"), DEFAULT_TIMEOUT)
        started = row.started_at.timestamp() if row.started_at else time.time()
        ctl.deadline = time.monotonic() + max(0.0, timeout - (time.time() - started))
        if not self._wait_concurrency(rc):
            return
        if row.resume_at is not None:  # a fresh run has no earlier stages to restore
            self._restore(rc)
        runner = StageRunner(self, rc)
        start_at = row.resume_at or 0
        results: list[str] = [self._stage_status(rc, st) for st in pipeline["stages"][:start_at]]
        rc.failed = any(s in ("failed", "timed-out", "aborted") for s in results)
        for i, stage in enumerate(pipeline["stages"][start_at:], start=start_at):
            if ctl.cancelled.is_set() or (ctl.deadline and time.monotonic() >= ctl.deadline):
                break
            if stage.get("kind") == "approve":
                # with what is pending: the earlier stages' ends are stored before a resume can read them
                journal.flush(extra=lambda s, i=i: s.execute(update(RunRow).where(RunRow.id == run_id)
                                                             .values(resume_at=i)))
            status = runner.run(stage, i, None)
            results.append(status)
            if status in ("failed", "timed-out", "aborted"):
                rc.failed = True
                break
            if status == "waiting":  # stopped waiting because shipway is shutting down: resume later
                journal.close()
                return
        final = self._final_state(rc, results)
        runner.post(pipeline.get("post"), final_label(final), "pipeline")
        self.finish(rc, final, reason=ctl.reason if final is not RunState.SUCCEEDED else "")
        if self.svc.clean_workspaces:
            shutil.rmtree(workspace, ignore_errors=True)

    def _final_state(self, rc: RunContext, results: list[str]) -> RunState:
        if rc.ctl.cancelled.is_set():
            return RunState.INTERRUPTED if rc.ctl.reason == "interrupted" else RunState.ABORTED
        if rc.ctl.deadline and time.monotonic() >= rc.ctl.deadline:
            return RunState.TIMED_OUT
        overall = worst(results)
        return {"succeeded": RunState.SUCCEEDED, "aborted": RunState.ABORTED,
                "timed-out": RunState.FAILED}.get(overall, RunState.FAILED)

    def _stage_status(self, rc: RunContext, stage: dict) -> str:
        with self.store.session() as s:
            row = s.scalar(select(StageRow).where(StageRow.run_id == rc.row.id, StageRow.name == stage["name"]))
            return row.status if row else "skipped"

    def _restore(self, rc: RunContext) -> None:
        """Outputs of earlier stages (built images, approval inputs) for a resumed run."""
        with self.store.session() as s:
            for st in s.scalars(select(StageRow).where(StageRow.run_id == rc.row.id)).all():
                if st.detail:
                    rc.outputs[st.name] = dict(st.detail)
                    for k, v in (st.detail.get("inputs") or {}).items():
                        rc.approval_env[f"INPUT_{k.upper()}"] = str(v)

    def _wait_concurrency(self, rc: RunContext) -> bool:
        conc = rc.pipeline.get("concurrency")
        if not conc:
            return True
        group = spec.render(conc["group"], rc.values)
        rc.journal.flush(extra=lambda s: s.execute(update(RunRow).where(RunRow.id == rc.row.id)
                                                   .values(concurrency_group=group)))  # and what is pending
        if conc.get("mode") == "cancel-in-progress":
            for other in self.svc.active_in_group(group, exclude=rc.row.id):
                if other < rc.row.id:
                    self.svc.cancel(other, by="shipway", reason=f"superseded by run {rc.row.id}")
        announced = False
        while True:
            older = [o for o in self.svc.active_in_group(group, exclude=rc.row.id) if o < rc.row.id]
            if not older:
                return True
            if not announced:
                w = self.writer(rc, None)
                w.line(f"waiting for run(s) {older} of concurrency group '{group}'")
                w.close()
                announced = True
            if rc.ctl.cancelled.wait(0.5):
                self.finish(rc, RunState.ABORTED, reason=rc.ctl.reason or "cancelled")
                return False


def final_label(state: RunState) -> str:
    return {RunState.SUCCEEDED: "success", RunState.ABORTED: "aborted",
            RunState.INTERRUPTED: "aborted"}.get(state, "failure")
