"""The Service proxy: every Service port listens on 127.0.0.1:<nodePort> and balances connections.

Targets are the ready pods' published ports (127.0.0.1:<host port>), read from
the pods themselves on every store event, so a pod leaves the rotation the
moment it is not ready or is being deleted. Round robin; a target that refuses
the connection is skipped and the next one tried (the client never sees it).
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading

from shipway.orchestrator.network import accept_loop, listen, pipe
from shipway.orchestrator.replicaset import service_targets

log = logging.getLogger(__name__)


class Listener:
    def __init__(self, port: int) -> None:
        self.port = port
        self.targets: list[tuple[str, int]] = []
        self.counter = itertools.count()
        self.sock = listen("127.0.0.1", port, backlog=512)
        self.closed = False
        accept_loop(self.sock, self._serve, f"svc-proxy-{port}")

    def _serve(self, conn: socket.socket) -> None:
        targets = list(self.targets)
        if not targets:
            conn.close()
            return
        start = next(self.counter)
        for i in range(len(targets)):
            target = targets[(start + i) % len(targets)]
            if target not in self.targets and self.targets:
                continue  # left the rotation since we looked
            try:
                up = socket.create_connection(target, timeout=2)
                up.settimeout(None)
            except OSError:
                continue
            pipe(conn, up)
            return
        conn.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class ServiceProxy:
    """Keeps one :class:`Listener` per Service port in step with the store (a component)."""

    def __init__(self, store) -> None:
        self.store = store
        self.listeners: dict[int, Listener] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.store.log.listeners.append(self._on_event)
        self._thread = threading.Thread(target=self._loop, name="svc-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            for lst in self.listeners.values():
                lst.close()
            self.listeners.clear()

    def _on_event(self, etype: str, resource: str, obj: dict) -> None:
        if resource in ("pods", "services"):
            if resource == "pods" and (etype == "DELETED" or obj["metadata"].get("deletionTimestamp")):
                self._drop_pod(obj)  # at once, before the next refresh
            self._wake.set()

    def _drop_pod(self, pod: dict) -> None:
        import json
        from shipway.orchestrator.objects import HOST_PORTS
        ports = set(json.loads((pod["metadata"].get("annotations") or {}).get(HOST_PORTS) or "{}").values())
        with self._lock:
            for lst in self.listeners.values():
                lst.targets = [t for t in lst.targets if t[1] not in ports]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(2.0)
            self._wake.clear()
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - ZooKeeper away: keep the last targets
                log.debug("service proxy refresh failed", exc_info=True)

    def refresh(self) -> None:
        services = self.store.list("services", all_namespaces=True)
        pods = self.store.list("pods", all_namespaces=True)
        wanted: dict[int, list[tuple[str, int]]] = {}
        for svc in services:
            targets = service_targets(svc, pods)
            for sp in svc["spec"].get("ports") or []:
                if sp.get("nodePort"):
                    wanted[sp["nodePort"]] = [("127.0.0.1", t["ports"][sp["port"]]) for t in targets
                                              if sp["port"] in t["ports"]]
        with self._lock:
            for port in list(self.listeners):
                if port not in wanted:
                    self.listeners.pop(port).close()
            for port, targets in wanted.items():
                if port not in self.listeners:
                    try:
                        self.listeners[port] = Listener(port)
                    except OSError as e:
                        log.warning("cannot listen on 127.0.0.1:%s for a Service: %s", port, e)
                        continue
                self.listeners[port].targets = targets
