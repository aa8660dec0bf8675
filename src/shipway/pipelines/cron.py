"""Cron triggers: APScheduler with its SQLAlchemy job store in shipway's database, fired by ONE server.

Schedules come from pipeline files (``triggers.cron``). Whenever a run loads
its pipeline, :meth:`CronTriggers.sync` replaces that project+branch's jobs with
the file's schedules. Jobs are persisted (table ``apscheduler_jobs``), so they
survive restarts.

Every ``shipway serve`` keeps a scheduler (so that any of them can sync jobs
into the shared job store), but only the **leader** runs jobs: the servers
elect one with kazoo's ``Election`` on ``/shipway/leader/pipelines-cron``
(:data:`LEADER`); the others keep their scheduler paused. The leader re-reads
the job store every :data:`REFRESH_SECONDS` (jobs another server added) and
gives up leading as soon as its ZooKeeper connection is suspended or lost; a
tick missed during a failover still fires when the next leader takes over
(within APScheduler's misfire grace time). On top of that a run is started with
the idempotency key ``cron:<project>:<branch>:<schedule>:<scheduled tick>``, so
a tick can never start two runs, whoever fires it. Without ZooKeeper (tests,
a single process) the scheduler simply runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import time

from shipway.core.zkpaths import leader

log = logging.getLogger(__name__)
LEADER = leader("pipelines-cron")
REFRESH_SECONDS = 15.0
MISFIRE_GRACE = 300
_service = None  # the PipelineService that job callbacks reach (APScheduler stores a textual reference)


def scheduled_tick(schedule: str, now: dt.datetime | None = None) -> dt.datetime:
    """The latest time ``schedule`` was due at or before ``now`` (within the misfire grace), else ``now``'s
    minute: the identity of a tick, the same on every server and however late it is fired."""
    from apscheduler.triggers.cron import CronTrigger
    now = now or dt.datetime.now(dt.timezone.utc)
    trigger = CronTrigger.from_crontab(schedule, timezone="UTC")
    t = trigger.get_next_fire_time(None, now - dt.timedelta(seconds=MISFIRE_GRACE + 60))
    last = None
    for _ in range(1000):  # bounded: at most one tick per minute inside the window
        if t is None or t > now:
            break
        last = t
        t = trigger.get_next_fire_time(t, t + dt.timedelta(seconds=1))
    return last or now.replace(second=0, microsecond=0)


def fire(project: str, branch: str, schedule: str) -> None:
    """Job function: start a cron run (module-level so the job store can serialise its reference)."""
    svc = _service
    if svc is None:
        return
    tick = scheduled_tick(schedule).astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M")
    try:
        svc.start_run(project, event=None, trigger="cron", params={"branch": branch}, requested_by="cron",
                      idempotency_key=f"cron:{project}:{branch}:{schedule}:{tick}")
    except Exception:  # noqa: BLE001 - a missing project must not kill the scheduler
        log.exception("cron run of %s/%s failed to start", project, branch)


class CronTriggers:
    """Component owning the APScheduler background scheduler and the leader election.

    ``zk`` is a :class:`~shipway.core.zk.ZkConnection` (default: the server's ``ctx.zk``); ``None`` means no
    election (the scheduler runs at once).
    """

    def __init__(self, ctx, svc, zk=None, refresh: float = REFRESH_SECONDS) -> None:
        self.ctx, self.svc = ctx, svc
        self.scheduler = None
        self.refresh = refresh
        self._zk = zk
        self._lock = threading.Lock()
        self._synced: dict[tuple, tuple] = {}
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._election = None
        self._thread: threading.Thread | None = None
        self.identifier = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        svc.cron = self

    @property
    def leading(self) -> bool:
        """True while this scheduler is the one that runs jobs."""
        return self._leading.is_set()

    def start(self) -> None:
        global _service
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
        _service = self.svc
        self._stop.clear()
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.ctx.store.engine, tablename="apscheduler_jobs")},
            job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE}, timezone="UTC")
        zk = self._zk if self._zk is not None else getattr(self.ctx, "zk", None)
        self.scheduler.start(paused=zk is not None)  # paused: syncs jobs into the store, runs none
        if zk is None:
            self._leading.set()
            return
        self._zk = zk
        self._thread = threading.Thread(target=self._campaign, daemon=True, name="pipelines-cron-election")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._election is not None:
            try:
                self._election.cancel()
            except Exception:  # noqa: BLE001
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self._leading.clear()

    # -- leadership ------------------------------------------------------------------
    def _campaign(self) -> None:
        # One Election (one lock object) for the component's life: after a connection hiccup kazoo's lock
        # finds its own znode again instead of queueing behind a leftover one.
        election = self._election = self._zk.client.Election(LEADER, identifier=self.identifier)
        while not self._stop.is_set():
            try:
                if self._zk.connected:
                    election.run(self._lead)
            except Exception:  # noqa: BLE001 - a lost session interrupts the election: campaign again
                log.warning("cron leader election interrupted; campaigning again", exc_info=True)
                try:
                    election.lock.release()
                except Exception:  # noqa: BLE001 - still disconnected: the session's end removes the node
                    pass
            self._stop.wait(1.0)

    def _lead(self) -> None:
        """Runs while this server holds the election lock: resume the scheduler, keep it fed, then pause."""
        log.info("cron triggers: leading (%s)", self.identifier)
        self._leading.set()
        try:
            self.scheduler.resume()
            last = 0.0
            # Leading only while connected: a suspended connection may already mean another leader.
            while not self._stop.is_set() and self._zk.connected:
                if time.monotonic() - last >= self.refresh:
                    last = time.monotonic()
                    self.scheduler.wakeup()  # re-reads the shared store: jobs other servers synced
                self._stop.wait(min(self.refresh, 0.5))
        finally:
            self._leading.clear()
            if self.scheduler is not None:
                try:
                    self.scheduler.pause()
                except Exception:  # noqa: BLE001 - shut down meanwhile
                    pass
            log.info("cron triggers: not leading any more (%s)", self.identifier)

    # -- jobs --------------------------------------------------------------------------
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
