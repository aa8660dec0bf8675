"""The node agent: runs the cluster's pods on the local Docker Engine (a component).

One :class:`~shipway.orchestrator.podworker.PodWorker` thread per pod; a loop
starts workers for new pods, binds unscheduled pods to this node, removes
containers of pods that no longer exist (only of this cluster: containers
carry the cluster id), and restarts dead workers. On start it adopts
containers left by a previous run (workers look them up by pod uid).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

import docker.errors
from kazoo.exceptions import NodeExistsError

from shipway.core import zkpaths
from shipway.orchestrator import network
from shipway.orchestrator.objects import BY_KIND
from shipway.orchestrator.podworker import PodWorker
from shipway.orchestrator.replicaset import NODE_NAME
from shipway.orchestrator.runtime import L_CONTAINER, L_POD_UID, L_RESTART, L_ROLE, Runtime

log = logging.getLogger(__name__)
CLUSTER_ID = f"{zkpaths.ORCHESTRATOR}/cluster-id"


def extra_labels_from_env() -> dict[str, str]:
    """``SHIPWAY_ORCHESTRATOR_LABELS=k=v,k2=v2``: labels added to every container (tests use it)."""
    raw = os.environ.get("SHIPWAY_ORCHESTRATOR_LABELS", "")
    return dict(p.split("=", 1) for p in raw.split(",") if "=" in p)


class Agent:
    """Runs pods of this cluster on Docker."""

    def __init__(self, service, *, extra_labels: dict[str, str] | None = None, interval: float = 1.0) -> None:
        self.service = service
        self.store, self.resources = service.store, service.resources
        self.ctx = service.ctx
        self.extra_labels = {**extra_labels_from_env(), **(extra_labels or {})}
        self.interval = interval
        self.stopping = threading.Event()
        self.workers: dict[str, PodWorker] = {}
        self.runtime: Runtime | None = None
        self.forwarders: list[network.Forwarder] = []
        self._env: dict[str, str] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="orchestrator-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; pods keep running (the next agent adopts them)."""
        self.stopping.set()
        self._wake.set()
        for w in list(self.workers.values()):
            w.wake.set()
        for f in self.forwarders:
            f.close()
        if self._thread:
            self._thread.join(timeout=10)
        if self._lock is not None:
            try:
                self._lock.release()
            except Exception:  # noqa: BLE001 - the session may be gone already
                pass

    def _claim_node(self) -> None:
        """One agent per node: a second shipway on the same ZooKeeper waits as a standby."""
        self._lock = self.service.zk.Lock(f"{zkpaths.ORCHESTRATOR}/nodes/{NODE_NAME}", identifier=NODE_NAME)
        from kazoo.exceptions import LockTimeout
        while not self.stopping.is_set():
            try:
                if self._lock.acquire(timeout=2.0):
                    return
            except LockTimeout:
                continue
        raise RuntimeError("stopping")

    def _setup(self) -> None:
        zk = self.service.zk
        if self._lock is None:
            self._claim_node()
        try:
            zk.create(CLUSTER_ID, uuid.uuid4().hex[:12].encode(), makepath=True)
        except NodeExistsError:
            pass
        cluster_id = zk.get(CLUSTER_ID)[0].decode()
        client = self.ctx.docker
        net = network.ensure_network(client)
        gw = network.gateway_ip(net)
        s = self.ctx.settings
        self.forwarders = [network.Forwarder(gw, (s.host if s.host not in ("0.0.0.0", "") else "127.0.0.1", s.port))]
        self._env = {"SHIPWAY_URL": f"http://{gw}:{self.forwarders[0].address[1]}"}
        zk_target = _zk_target(self.ctx.zk_hosts)
        if zk_target:
            fw = network.Forwarder(gw, zk_target)
            self.forwarders.append(fw)
            chroot = self.ctx.zk_hosts.partition("/")[2]
            self._env["SHIPWAY_ZK"] = f"{gw}:{fw.address[1]}" + (f"/{chroot}" if chroot else "")
        self.runtime = Runtime(lambda: self.ctx.docker, cluster_id=cluster_id, network=net.name,
                               data_dir=self.ctx.data_path / "orchestrator", registry=self.ctx.registry_address,
                               extra_labels=self.extra_labels)
        self.store.log.listeners.append(self._on_event)

    def injected_env(self) -> dict[str, str]:
        """Variables every pod container gets (documented in docs/orchestrator.md)."""
        return dict(self._env)

    def lookup(self, ns: str):
        def get(resource: str, name: str):
            return self.store.find(resource, ns, name)
        return get

    def _on_event(self, etype: str, resource: str, obj: dict) -> None:
        if resource != "pods":
            return
        w = self.workers.get(obj["metadata"].get("uid"))
        if w is not None:
            w.wake.set()
        else:
            self._wake.set()

    # -- main loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.runtime is None:
                    self._setup()
                self.reconcile()
            except Exception:  # noqa: BLE001 - Docker or ZooKeeper away: try again
                log.warning("orchestrator agent pass failed", exc_info=True)
            self._wake.wait(self.interval)
            self._wake.clear()

    def reconcile(self) -> None:
        pods = self.store.list("pods", all_namespaces=True)
        uids = set()
        for pod in pods:
            m = pod["metadata"]
            if pod["spec"].get("nodeName") not in (None, NODE_NAME):
                continue
            uids.add(m["uid"])
            if not pod["spec"].get("nodeName"):
                try:
                    self.resources.patch(BY_KIND["Pod"], m["namespace"], m["name"], "application/merge-patch+json",
                                         {"spec": {"nodeName": NODE_NAME}})
                except Exception:  # noqa: BLE001
                    continue
            w = self.workers.get(m["uid"])
            if w is None or (w.done and not m.get("deletionTimestamp")):
                w = PodWorker(self, pod)
                self.workers[m["uid"]] = w
                w.start()
        for uid, w in list(self.workers.items()):
            if w.done and uid not in uids:
                del self.workers[uid]
        for c in self.runtime.list_all():
            uid = (c.attrs.get("Labels") or {}).get(L_POD_UID)
            if uid not in uids and uid not in self.workers:
                try:
                    c.remove(force=True)
                    self.runtime.remove_pod_dir(uid)
                except docker.errors.APIError:
                    pass

    # -- logs --------------------------------------------------------------------------
    def container_for(self, pod: dict, container: str, previous: bool = False):
        cs = self.ctx.docker.containers.list(all=True, filters={"label": f"{L_POD_UID}={pod['metadata']['uid']}"})
        mine = sorted((c for c in cs if c.labels.get(L_ROLE) == "container" and c.labels.get(L_CONTAINER) == container),
                      key=lambda c: int(c.labels.get(L_RESTART, "0")))
        if previous:
            return mine[-2] if len(mine) > 1 else None
        return mine[-1] if mine else None


def _zk_target(hosts: str | None) -> tuple[str, int] | None:
    if not hosts:
        return None
    first = hosts.partition("/")[0].split(",")[0]
    host, _, port = first.rpartition(":")
    return (host or "127.0.0.1", int(port or 2181))
