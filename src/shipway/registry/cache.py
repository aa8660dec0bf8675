"""A read cache of services' instances for the hot HTTP reads (``/nacos/v1/ns/instance/list``).

Each cached service holds watches on its ``instances/`` children, each instance's data and the service
record; any event for a service drops its entry, and the next read re-reads it from ZooKeeper (and
re-arms the watches). Writes made through this server drop the entry at once, so a client reads its
own writes. A lost or suspended connection drops everything: the cache never answers from a state it
cannot keep current.
"""

from __future__ import annotations

import threading
from typing import Callable

from kazoo.client import KazooState
from kazoo.protocol.states import EventType

from shipway.registry import paths

Key = tuple[str, str, str]


class InstanceCache:
    """``(instances, service record)`` per service, invalidated by ZooKeeper watches."""

    def __init__(self) -> None:
        self._entries: dict[Key, tuple[list[dict], dict]] = {}
        self._generation: dict[Key, int] = {}
        self._lock = threading.Lock()
        self._listening: object | None = None

    def listen(self, zk) -> None:
        """Attach the connection-state listener to ``zk`` once."""
        if self._listening is zk:
            return
        self._listening = zk
        zk.add_listener(self._on_state)

    def _on_state(self, state: str) -> None:
        if state != KazooState.CONNECTED:
            self.clear()

    def clear(self) -> None:
        with self._lock:
            for key in self._entries:
                self._generation[key] = self._generation.get(key, 0) + 1
            self._entries.clear()

    def invalidate(self, key: Key) -> None:
        with self._lock:
            self._generation[key] = self._generation.get(key, 0) + 1
            self._entries.pop(key, None)

    def on_event(self, event) -> None:
        """The watcher passed to every read of a cached service (kazoo's event thread: cheap)."""
        if event.type == EventType.NONE:
            return
        parts = event.path.split("/")
        base = paths.ROOT.count("/") + 1
        if len(parts) >= base + 3:
            self.invalidate((parts[base], parts[base + 1], parts[base + 2]))

    def get(self, key: Key, load: Callable[[], tuple[list[dict], dict]]) -> tuple[list[dict], dict]:
        """The cached entry, or ``load()`` (which must read with :meth:`on_event` as the watcher)."""
        with self._lock:
            hit = self._entries.get(key)
            generation = self._generation.get(key, 0)
        if hit is not None:
            return hit
        value = load()
        with self._lock:
            # Store only if nothing changed while loading; otherwise the next read loads again.
            if self._generation.get(key, 0) == generation:
                self._entries[key] = value
        return value
