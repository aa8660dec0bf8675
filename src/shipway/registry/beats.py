"""Heartbeats of Nacos-style (HTTP) ephemeral instances: recording beats and reading the last ones.

A mixin of :class:`shipway.registry.naming.NamingService`; the rules that judge the beats (unhealthy,
removed) run in :mod:`shipway.registry.health`.
"""

from __future__ import annotations

import time

from kazoo.exceptions import NodeExistsError, NoNodeError

from shipway.core.errors import NotFound
from shipway.registry import model, paths
from shipway.registry.model import DEFAULT_CLUSTER
from shipway.registry.zkread import get_each


class Heartbeats:
    """Beat records under each service's ``beats/`` (the server's view of HTTP instances' liveness)."""

    def _touch_beat(self, ns: str, group: str, service: str, iid: str) -> None:
        path = paths.beat(ns, group, service, iid)
        value = str(time.time()).encode()
        try:
            self._call(self.zk.set, path, value)
        except NoNodeError:
            try:
                self._call(self.zk.create, path, value, makepath=True)
            except NodeExistsError:
                self._call(self.zk.set, path, value)

    def beat(self, ns: str, group: str, service: str, ip: str, port: int, cluster: str = DEFAULT_CLUSTER,
             body: dict | None = None) -> dict | None:
        """Record a heartbeat; registers the instance from ``body`` if unknown. None = unknown, no body."""
        iid = model.instance_id(ip, port, cluster, group, service)
        try:
            inst = self.get_instance(ns, group, service, iid)
        except NotFound:
            if body is None:
                return None
            self.register_instance(service, ip, port, namespace=ns, group=group, cluster=cluster,
                                   weight=body.get("weight", 1.0) or 1.0, metadata=body.get("metadata") or {},
                                   ephemeral=True)
            return self.get_instance(ns, group, service, iid)
        self._touch_beat(ns, group, service, iid)
        if not inst.get("healthy"):
            inst = self.update_instance(ns, group, service, iid, healthy=True)
        return inst

    def last_beats(self, items: list[tuple[str, str, str, str]]) -> list[float | None]:
        """The last heartbeat of many ``(ns, group, service, instanceId)``, pipelined in batches."""
        return [_beat_time(data) for data in get_each(self.zk, [paths.beat(*item) for item in items])]

    def last_beat(self, ns: str, group: str, service: str, iid: str) -> float | None:
        try:
            data, _ = self._call(self.zk.get, paths.beat(ns, group, service, iid))
        except NoNodeError:
            return None
        return _beat_time(data)


def _beat_time(data: bytes | None) -> float | None:
    """The time a beat record holds; None for a missing or unreadable one."""
    try:
        return float(data) if data else None
    except ValueError:
        return None
