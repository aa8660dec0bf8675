"""Cron triggers with two schedulers (two shipway servers sharing one database) against the real ZooKeeper.

Only the elected leader runs jobs — also jobs the other server wrote into the shared job store — and when the
leader's ZooKeeper session ends the other server takes over.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from shipway.core.zk import ZkConnection
from shipway.pipelines import cron, models, project_models  # noqa: F401 - tables on Base
from shipway.pipelines.projects import ProjectService
from shipway.pipelines.queue import MemoryRunQueue
from shipway.pipelines.service import PipelineService
from support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


class Server:
    """One 'shipway serve' as far as cron is concerned: its own ZooKeeper session and scheduler."""

    def __init__(self, ctx, svc, zk_hosts: str) -> None:
        self.zk = ZkConnection(zk_hosts, timeout=4.0)
        self.zk.start()
        self.cron = cron.CronTriggers(ctx, svc, zk=self.zk, refresh=0.3)
        self.executed: list[str] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
        self.cron.start()
        self.cron.scheduler.add_listener(self._on_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _on_job(self, event) -> None:
        with self._lock:
            self.executed.append(event.job_id)

    def add_date_job(self, job_id: str) -> None:
        """A job due in half a second, written into the SHARED job store through this server's scheduler."""
        self.cron.scheduler.add_job(cron.fire, "date", id=job_id, args=["app", "main", "* * * * *"],
                                    run_date=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.5))

    def stop(self) -> None:
        self.cron.stop()
        self.zk.stop()


def test_only_the_leader_fires_and_the_other_takes_over(unit_ctx, zk_hosts, git_repo):
    unit_ctx.services["projects"] = ProjectService(unit_ctx.store, "k" * 32, None)
    git_repo.commit({".shipway.yml": "stages:\n  - name: s\n    steps: [{run: 'true'}]\n"}, "pipeline")
    git_repo.push()
    unit_ctx.services["projects"].add("app", git_repo.url, branches=["main"])
    svc = PipelineService(unit_ctx, MemoryRunQueue())  # no executor: runs stay queued, they are only counted
    a, b = Server(unit_ctx, svc, zk_hosts), Server(unit_ctx, svc, zk_hosts)
    try:
        a.start()
        b.start()
        wait_for(lambda: a.cron.leading or b.cron.leading, 15, message="a cron leader")
        leader, follower = (a, b) if a.cron.leading else (b, a)
        assert not follower.cron.leading

        follower.add_date_job("t1")  # the follower syncs a job; the leader runs it
        wait_for(lambda: leader.executed == ["t1"], 15, message="the leader runs the follower's job")
        assert follower.executed == []
        crons = [r for r in svc.list_runs("app") if r["trigger"] == "cron"]
        assert len(crons) == 1 and crons[0]["branch"] == "main"

        leader.zk.stop()  # the leader's server dies: its session ends, its election node goes
        wait_for(lambda: follower.cron.leading, 20, message="the other server takes over")
        wait_for(lambda: not leader.cron.leading, 5, message="the old leader stops leading")
        follower.add_date_job("t2")
        wait_for(lambda: follower.executed == ["t2"], 15, message="the new leader runs jobs")
        assert leader.executed == ["t1"]
    finally:
        for s in (a, b):
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - already stopped
                pass

