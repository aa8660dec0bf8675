"""Kubernetes ``v1 Event`` recording (what ``kubectl describe`` and ``kubectl get events`` show).

Repeated events (same object, reason and message) are aggregated into one with a
growing ``count``, as the client-go recorder does. Events older than
:data:`TTL` are removed by the controller manager's resync. Recording never
raises: losing an event must not break a controller.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

from shipway.orchestrator.objects import new_uid, now, parse_time

log = logging.getLogger(__name__)
TTL = 3600.0


class Recorder:
    def __init__(self, store) -> None:
        self.store = store
        self._names: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def record(self, obj: dict, etype: str, reason: str, message: str, component: str) -> None:
        """Record ``reason``/``message`` (``etype`` Normal|Warning) about ``obj``."""
        try:
            self._record(obj, etype, reason, message, component)
        except Exception:  # noqa: BLE001
            log.debug("event not recorded", exc_info=True)

    def _record(self, obj: dict, etype: str, reason: str, message: str, component: str) -> None:
        m = obj["metadata"]
        ns = m.get("namespace") or "default"
        key = (m.get("uid"), reason, message)
        with self._lock:
            name = self._names.get(key)
        t = now()
        if name:
            cur = self.store.find("events", ns, name)
            if cur is not None:
                cur["count"] = cur.get("count", 1) + 1
                cur["lastTimestamp"] = t
                self.store.update("events", cur, expect_rv=cur["metadata"]["resourceVersion"])
                return
        name = f"{m['name']}.{secrets.token_hex(8)}"
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": name, "namespace": ns, "uid": new_uid(), "creationTimestamp": t},
              "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "namespace": ns,
                                 "name": m["name"], "uid": m.get("uid")},
              "reason": reason, "message": message, "source": {"component": component},
              "firstTimestamp": t, "lastTimestamp": t, "count": 1, "type": etype,
              "reportingComponent": component, "reportingInstance": ""}
        self.store.create("events", ev)
        with self._lock:
            if len(self._names) > 5000:
                self._names.clear()
            self._names[key] = name

    def expire(self) -> int:
        """Delete events last seen more than :data:`TTL` seconds ago."""
        removed = 0
        limit = time.time() - TTL
        for ev in self.store.list("events", all_namespaces=True):
            if (parse_time(ev.get("lastTimestamp")) or 0) < limit:
                try:
                    self.store.delete("events", ev)
                    removed += 1
                except Exception:  # noqa: BLE001
                    pass
        return removed
