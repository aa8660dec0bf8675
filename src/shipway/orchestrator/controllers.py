"""The controller manager: work queue, workers, resync, leader election on ZooKeeper.

Keys are ``(resource, namespace, name)``. Store events enqueue the object and
its controller owner; a resync every :attr:`resync` seconds enqueues every
Deployment, ReplicaSet and Service (level-triggered: a lost event is only a
delay). Only the leader (kazoo ``Election`` on ``paths.LEADER``) runs syncs.
"""

from __future__ import annotations

import logging
import threading
import time

from shipway.orchestrator import paths
from shipway.orchestrator.deployment import sync_deployment
from shipway.orchestrator.objects import BY_KIND, controller_uid
from shipway.orchestrator.replicaset import collect_garbage, sync_endpoints, sync_replicaset
from shipway.orchestrator.workqueue import WorkQueue

log = logging.getLogger(__name__)


class ControllerManager:
    """Runs the deployment, replicaset, endpoints and garbage-collector loops (a component)."""

    def __init__(self, service, *, resync: float = 2.0, workers: int = 2) -> None:
        self.service = service
        self.res = service.resources
        self.queue = WorkQueue()
        self.resync = resync
        self.workers = workers
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._threads: list[threading.Thread] = []
        self._election = None
        self._expired_at = 0.0

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        self.service.store.log.listeners.append(self._on_event)
        t = threading.Thread(target=self._campaign, name="orchestrator-election", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()
        if self._election is not None:
            try:
                self._election.cancel()
            except Exception:  # noqa: BLE001
                pass
        for t in self._threads:
            t.join(timeout=5)

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def _campaign(self) -> None:
        while not self._stop.is_set():
            try:
                self._election = self.service.zk.Election(paths.LEADER, identifier="controllers")
                self._election.run(self._lead)
            except Exception:  # noqa: BLE001 - lost session: campaign again
                log.warning("controller election interrupted; campaigning again", exc_info=True)
            self._leading.clear()
            self._stop.wait(1.0)

    def _lead(self) -> None:
        log.info("orchestrator controllers: leading")
        self._leading.set()
        workers = [threading.Thread(target=self._work, name=f"orchestrator-worker-{i}", daemon=True)
                   for i in range(self.workers)]
        for w in workers:
            w.start()
        while not self._stop.is_set() and self.service.zk.connected:
            try:
                self.res.ensure_default_namespace()
                self.enqueue_all()
                collect_garbage(self.res)
                if time.monotonic() - self._expired_at > 60:
                    self._expired_at = time.monotonic()
                    self.res.events.expire()
            except Exception:  # noqa: BLE001
                log.warning("orchestrator resync failed", exc_info=True)
            self._stop.wait(self.resync)
        self._leading.clear()

    # -- feeding the queue ---------------------------------------------------
    def enqueue_all(self) -> None:
        for resource in ("deployments", "replicasets", "services"):
            for obj in self.service.store.list(resource, all_namespaces=True):
                self.queue.add((resource, obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def _on_event(self, etype: str, resource: str, obj: dict) -> None:
        m = obj.get("metadata") or {}
        ns = m.get("namespace")
        if resource in ("deployments", "replicasets", "services"):
            self.queue.add((resource, ns, m["name"]))
        owner = next((r for r in m.get("ownerReferences") or [] if r.get("controller")), None)
        if owner and resource in ("replicasets", "pods"):
            self.queue.add(({"ReplicaSet": "replicasets", "Deployment": "deployments"}.get(owner["kind"], "x"),
                            ns, owner["name"]))
        if resource == "pods":
            self.queue.add(("services-of", ns, ""))
            if etype == "DELETED" or m.get("deletionTimestamp"):
                pass

    # -- workers ------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set() and self._leading.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                again = self.sync(key)
                self.queue.forget(key)
                if again is not None:
                    self.queue.add_after(key, again)
            except Exception as e:  # noqa: BLE001 - requeue with back-off, never die
                log.debug("sync %s failed: %s", key, e, exc_info=True)
                self.queue.requeue(key)
            finally:
                self.queue.done(key)

    def sync(self, key: tuple[str, str, str]) -> float | None:
        resource, ns, name = key
        if resource == "deployments":
            return sync_deployment(self.res, ns, name)
        if resource == "replicasets":
            again = sync_replicaset(self.res, ns, name)
            rs = self.service.store.find("replicasets", ns, name)
            if rs:
                owner = next((r for r in rs["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
                if owner:
                    self.queue.add(("deployments", ns, owner["name"]))
            return again
        if resource == "services":
            sync_endpoints(self.res, ns, name)
            self.service.sync_registrations(ns, name)
            return None
        if resource == "services-of":
            for svc in self.service.store.list("services", ns):
                self.queue.add(("services", ns, svc["metadata"]["name"]))
        return None


_ = (BY_KIND, controller_uid, time)
