"""The executor component: takes runs from the queue and executes them; recovers after restarts.

Any number of executors (in one or several processes) can share a queue: a
run is claimed with a conditional SQL update, so exactly one executor runs it.
Each executor announces itself with an ephemeral znode; the reconcile loop
(every :data:`RECONCILE_SECONDS`) repairs what a dead executor left behind:

* queued runs missing from the queue are enqueued again;
* running runs of a dead executor become ``interrupted`` (their stage may have
  had side effects; re-run them deliberately);
* runs waiting for approval of a dead executor are adopted and keep waiting
  (resumed at the approval stage boundary) — an approval given meanwhile counts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from sqlalchemy import select, update

from shipway.core.store import utcnow
from shipway.pipelines import runs
from shipway.pipelines.commands import Control
from shipway.pipelines.engine import Engine
from shipway.pipelines.metrics import RUNNING
from shipway.pipelines.models import RunRow
from shipway.pipelines.states import RunState

log = logging.getLogger(__name__)
RECONCILE_SECONDS = 2.0


class Executor:
    """Component (start/stop) running up to ``max_runs`` runs at a time."""

    def __init__(self, svc, max_runs: int = 4) -> None:
        self.svc = svc
        self.id = f"ex-{uuid.uuid4().hex[:12]}"
        self.max_runs = max_runs
        self.engine = Engine(svc)
        self._threads: dict[int, threading.Thread] = {}
        self._thread: threading.Thread | None = None
        self._last_reconcile = 0.0

    def start(self) -> None:
        self.svc.stopping.clear()
        self.svc.queue.register_executor(self.id)
        zk = getattr(self.svc.ctx, "zk", None)
        if zk is not None and hasattr(self.svc.queue, "zk"):
            zk.on_new_session(lambda: self.svc.queue.register_executor(self.id))
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pipeline-executor")
        self._thread.start()

    def stop(self) -> None:
        self.svc.stopping.set()
        self.svc.queue.wake()
        if self._thread:  # first the loop, so that no run is launched while the others are stopped
            self._thread.join(5)
        for run_id, ctl in list(self.svc.controls.items()):
            ctl.cancel("interrupted")
        for t in list(self._threads.values()):
            if t.ident is not None:
                t.join(10)

    # -- loop -----------------------------------------------------------------
    def _loop(self) -> None:
        while not self.svc.stopping.is_set():
            try:
                if time.monotonic() - self._last_reconcile >= RECONCILE_SECONDS:
                    self._last_reconcile = time.monotonic()
                    self.reconcile()
                self.take()
            except Exception:  # noqa: BLE001 - the loop must survive ZooKeeper/DB hiccups
                log.exception("pipeline executor loop error")
                self.svc.stopping.wait(1.0)
            self.svc.queue.wait(RECONCILE_SECONDS / 2)

    def active(self) -> int:
        for rid in [r for r, t in list(self._threads.items()) if not t.is_alive()]:
            self._threads.pop(rid, None)
        return len(self._threads)

    def take(self) -> None:
        """Claim queued runs while there are free slots (oldest first)."""
        for item, run_id in self.svc.queue.items():
            if self.svc.stopping.is_set() or self.active() >= self.max_runs:
                return
            # The conditional update is the claim; when it fails the run is not queued any more (taken by
            # another executor, cancelled, or a duplicate item), so the item goes either way.
            claimed = runs.claim(self.svc.store, run_id, self.id)
            if claimed is not None:  # first: removing a ZooKeeper queue item is a round trip the run need not wait for
                self.launch(run_id, claimed)
            self.svc.queue.remove(item)

    def launch(self, run_id: int, row: RunRow | None = None) -> None:
        """Execute ``run_id`` in a thread of its own (``row``: the run as just claimed, saving a read)."""
        ctl = Control()  # a cancel requested before this point is seen by the engine on its first read
        self.svc.controls[run_id] = ctl

        def body() -> None:
            RUNNING.inc()
            try:
                self.engine.execute(run_id, ctl, row)
            finally:
                RUNNING.dec()
                self.svc.controls.pop(run_id, None)
                self._threads.pop(run_id, None)  # the slot is free now (the thread still ends its finally)
                self.svc.queue.wake()  # take the next queued run now, not at the next tick

        t = threading.Thread(target=body, daemon=True, name=f"run-{run_id}")
        t.start()
        self._threads[run_id] = t

    def reconcile(self) -> None:
        store, q = self.svc.store, self.svc.queue
        queued_items = {rid for _i, rid in q.items()}
        with store.session() as s:
            rows = s.execute(select(RunRow.id, RunRow.status, RunRow.executor, RunRow.created_at,
                                    RunRow.cancel_requested)
                             .where(RunRow.status.in_(("queued", "running", "waiting-for-approval")))).all()
        now = utcnow()
        for run_id, status, executor, created, cancel_req in rows:
            if status == "queued":
                age = (now - (created if created.tzinfo else created.replace(tzinfo=now.tzinfo))).total_seconds()
                if run_id not in queued_items and age > RECONCILE_SECONDS:
                    q.put(run_id)
                continue
            if executor == self.id:
                if cancel_req and run_id in self.svc.controls:  # cancel asked through another process
                    self.svc.controls[run_id].cancel("cancelled")
                continue
            if executor and q.executor_alive(executor):
                continue
            if status == "running":
                log.warning("run %s was running on %s, which is gone: interrupted", run_id, executor)
                try:
                    self.svc.finish(run_id, RunState.INTERRUPTED,
                                    reason=f"its executor {executor} stopped while it was running")
                except Exception:  # noqa: BLE001
                    log.exception("cannot mark run %s interrupted", run_id)
            elif status == "waiting-for-approval" and self.active() < self.max_runs * 4:
                with store.session() as s:
                    res = s.execute(update(RunRow).where(RunRow.id == run_id, RunRow.executor == executor)
                                    .values(executor=self.id))
                if res.rowcount == 1:
                    log.info("adopting run %s waiting for approval", run_id)
                    self.launch(run_id)
