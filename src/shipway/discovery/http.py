"""HTTP-only discovery: the same interface for apps that cannot reach ZooKeeper.

Registrations are heartbeat instances (Nacos semantics, through ``/nacos/v1/ns/instance`` and its
``beat``): they go unhealthy 15 s and disappear 30 s after the last beat. Subscribed services are
polled (``poll_interval``) from the native API; a failed poll keeps the cached list.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from urllib.parse import quote

import requests

from shipway.core.errors import ShipwayError, Unavailable
from shipway.discovery.base import DiscoveryBase, Key
from shipway.registry import model
from shipway.registry.model import DEFAULT_CLUSTER, Source

log = logging.getLogger(__name__)


class HttpRegistration:
    """A heartbeat registration; a context manager that deregisters on exit."""

    def __init__(self, owner: "HttpDiscovery", key: Key, instance: dict) -> None:
        self.owner, self.key, self.instance = owner, key, instance
        self.active = True

    @property
    def instance_id(self) -> str:
        return self.instance["instanceId"]

    def update(self, *, weight: float | None = None, enabled: bool | None = None, healthy: bool | None = None,
               metadata: dict | None = None) -> None:
        """Change this instance's record on the server (same as :meth:`Registration.update`)."""
        body = {}
        if weight is not None:
            body["weight"] = self.instance["weight"] = model.check_weight(weight)
        if enabled is not None:
            body["enabled"] = self.instance["enabled"] = bool(enabled)
        if healthy is not None:
            body["healthy"] = self.instance["healthy"] = bool(healthy)
        if metadata is not None:
            body["metadata"] = self.instance["metadata"] = model.check_metadata(metadata)
        self.owner._req("PATCH", f"/api/v1/naming/instances/{quote(self.instance_id, safe='')}",
                        params={"namespace": self.key[0]}, json=body)

    def deregister(self) -> None:
        self.owner.deregister(self)

    def __enter__(self) -> "HttpRegistration":
        return self

    def __exit__(self, *exc) -> None:
        self.deregister()


class HttpDiscovery(DiscoveryBase):
    """Register (with heartbeats), subscribe and choose over shipway's HTTP APIs."""

    def __init__(self, url: str, token: str | None = None, *, namespace: str = model.DEFAULT_NAMESPACE,
                 group: str = model.DEFAULT_GROUP, poll_interval: float = 1.0, beat_interval: float = 5.0,
                 snapshot_dir: str | None = None, timeout: float = 5.0) -> None:
        super().__init__(namespace=namespace, group=group, snapshot_dir=snapshot_dir)
        self.url = url.rstrip("/")
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.timeout, self.poll_interval, self.beat_interval = timeout, poll_interval, beat_interval
        self._regs: list[HttpRegistration] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._next_beat = 0.0
        self._thread = threading.Thread(target=self._loop, name="discovery-http", daemon=True)
        self._thread.start()
        from shipway.discovery.registration import _close_at_exit
        _close_at_exit(self)

    def _req(self, method: str, path: str, **kw) -> requests.Response:
        try:
            resp = self.http.request(method, self.url + path, timeout=self.timeout, **kw)
        except requests.RequestException as e:
            raise Unavailable(f"shipway at {self.url} is not reachable: {type(e).__name__}") from e
        if resp.status_code >= 400:
            raise ShipwayError(resp.text[:300], status=resp.status_code)
        return resp

    # -- registration ----------------------------------------------------------------------
    def register(self, service: str, ip: str, port: int, *, cluster: str = DEFAULT_CLUSTER, weight: float = 1.0,
                 metadata: dict | None = None, enabled: bool = True, healthy: bool = True,
                 group: str | None = None, namespace: str | None = None) -> HttpRegistration:
        key = self.key(service, group, namespace)
        inst = model.make_instance(*key, ip, port, cluster=cluster, weight=weight, metadata=metadata,
                                   ephemeral=True, healthy=healthy, enabled=enabled, source=Source.HEARTBEAT)
        self._req("POST", "/nacos/v1/ns/instance", data=self._params(key, inst) | {
            "weight": inst["weight"], "metadata": json.dumps(inst["metadata"]), "ephemeral": "true",
            "enabled": str(enabled).lower(), "healthy": str(healthy).lower()})
        reg = HttpRegistration(self, key, inst)
        with self._lock:
            self._regs.append(reg)
        return reg

    def deregister(self, reg: HttpRegistration) -> None:
        with self._lock:
            reg.active = False
            if reg in self._regs:
                self._regs.remove(reg)
        try:
            self._req("DELETE", "/nacos/v1/ns/instance", params=self._params(reg.key, reg.instance))
        except ShipwayError as e:
            log.warning("deregister %s: %s (it expires after 30 s without beats)", reg.instance_id, e.message)

    @staticmethod
    def _params(key: Key, inst: dict) -> dict:
        return {"namespaceId": key[0], "groupName": key[1], "serviceName": f"{key[1]}@@{key[2]}",
                "ip": inst["ip"], "port": inst["port"], "clusterName": inst["clusterName"]}

    def _beat(self, reg: HttpRegistration) -> None:
        inst = reg.instance
        beat = {"ip": inst["ip"], "port": inst["port"], "cluster": inst["clusterName"], "weight": inst["weight"],
                "serviceName": f"{reg.key[1]}@@{reg.key[2]}", "metadata": inst["metadata"], "scheduled": True}
        self._req("PUT", "/nacos/v1/ns/instance/beat", params={"namespaceId": reg.key[0],
                   "serviceName": beat["serviceName"], "beat": json.dumps(beat)})

    # -- polling -------------------------------------------------------------------------------
    def _watch(self, key: Key) -> None:
        threading.Thread(target=self._poll, args=(key,), daemon=True).start()  # first load at once

    def _poll(self, key: Key) -> None:
        ns, group, svc = key
        try:
            items = self._req("GET", f"/api/v1/naming/services/{svc}/instances",
                               params={"namespace": ns, "group": group}).json()["items"]
            try:
                threshold = float(self._req("GET", f"/api/v1/naming/services/{svc}",
                                             params={"namespace": ns, "group": group}).json()["protectThreshold"])
            except ShipwayError as e:
                if e.status != 404:
                    raise
                threshold = 0.0
        except (ShipwayError, ValueError, KeyError) as e:
            log.info("discovery poll of %s failed (%s); keeping the cached list", key, e)
            return
        self._publish(key, items, threshold)

    def _loop(self) -> None:
        while not self._closed.wait(self.poll_interval):
            for key in self.keys():
                self._poll(key)
            if time.monotonic() >= self._next_beat:
                self._next_beat = time.monotonic() + self.beat_interval
                with self._lock:
                    regs = list(self._regs)
                for reg in regs:
                    try:
                        self._beat(reg)
                    except ShipwayError as e:
                        log.warning("heartbeat of %s failed: %s", reg.instance_id, e.message)

    def close(self) -> None:
        """Deregister everything (heartbeat instances go at once instead of 30 s later) and stop polling."""
        if self._closed.is_set():
            return
        with self._lock:
            regs = list(self._regs)
        for reg in regs:
            self.deregister(reg)
        self._closed.set()
        self.http.close()

    def __enter__(self) -> "HttpDiscovery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
