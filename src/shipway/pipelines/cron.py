"""Cron triggers: APScheduler with its SQLAlchemy job store in shipway's database.

Schedules come from pipeline files (``triggers.cron``). Whenever a run loads
its pipeline, :meth:`CronTriggers.sync` replaces that project+branch's jobs with
the file's schedules. Jobs are persisted (table ``apscheduler_jobs``), so they
survive restarts; a run is started with the idempotency key
``cron:<project>:<branch>:<schedule>:<fire time>`` so that two schedulers (or a
misfire replay) never start the same tick twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading

log = logging.getLogger(__name__)
_service = None  # the PipelineService that job callbacks reach (APScheduler stores a textual reference)


def fire(project: str, branch: str, schedule: str) -> None:
    """Job function: start a cron run (module-level so the job store can serialise its reference)."""
    import datetime as dt
    svc = _service
    if svc is None:
        return
    tick = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M")
    try:
        svc.start_run(project, event=None, trigger="cron", params={"branch": branch}, requested_by="cron",
                      idempotency_key=f"cron:{project}:{branch}:{schedule}:{tick}")
    except Exception:  # noqa: BLE001 - a missing project must not kill the scheduler
        log.exception("cron run of %s/%s failed to start", project, branch)


class CronTriggers:
    """Component owning the APScheduler background scheduler."""

    def __init__(self, ctx, svc) -> None:
        self.ctx, self.svc = ctx, svc
        self.scheduler = None
        self._lock = threading.Lock()
        self._synced: dict[tuple, tuple] = {}
        svc.cron = self

    def start(self) -> None:
        global _service
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
        _service = self.svc
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.ctx.store.engine, tablename="apscheduler_jobs")},
            job_defaults={"coalesce": True, "misfire_grace_time": 300}, timezone="UTC")
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def sync(self, project: str, branch: str | None, pipeline: dict) -> None:
        """Make the project+branch's jobs equal to ``pipeline``'s ``triggers.cron`` entries."""
        if self.scheduler is None:
            return
        from apscheduler.triggers.cron import CronTrigger
        crons = (pipeline.get("triggers") or {}).get("cron") or []
        with self._lock:
            wanted = {}
            for c in crons:
                b = c.get("branch") or branch or "main"
                if branch and b != branch:
                    continue  # a branch's file only defines schedules for itself
                key = hashlib.sha1(f"{project}\0{b}\0{c['schedule']}".encode()).hexdigest()[:16]
                wanted[f"cron-{project}-{key}"] = (b, c["schedule"])
            sig = (project, branch, frozenset(wanted.items()))
            if self._synced.get((project, branch)) == sig:
                return  # unchanged since the last run of this branch: no job store round trips
            self._synced[(project, branch)] = sig
            prefix = f"cron-{project}-"
            for job in self.scheduler.get_jobs():
                if job.id.startswith(prefix) and job.id not in wanted and (not branch or job.args[1] == branch):
                    job.remove()
            for job_id, (b, sched) in wanted.items():
                self.scheduler.add_job(fire, CronTrigger.from_crontab(sched, timezone="UTC"), id=job_id,
                                       args=[project, b, sched], replace_existing=True)

    def jobs(self) -> list[dict]:
        if self.scheduler is None:
            return []
        return [{"id": j.id, "project": j.args[0], "branch": j.args[1], "schedule": j.args[2],
                 "next_run": j.next_run_time.isoformat() if j.next_run_time else None}
                for j in self.scheduler.get_jobs()]
