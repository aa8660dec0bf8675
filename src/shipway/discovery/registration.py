"""A ZooKeeper registration handle, and closing clients at interpreter exit."""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import TYPE_CHECKING

from shipway.discovery.base import Key
from shipway.registry import model, paths

if TYPE_CHECKING:
    from shipway.discovery.client import Discovery


class Registration:
    """One registered instance; a context manager that deregisters on exit."""

    def __init__(self, owner: "Discovery", key: Key, instance: dict) -> None:
        self.owner, self.key, self.instance = owner, key, instance
        self.path = paths.instance(key[0], key[1], key[2], instance["instanceId"])
        self.active = True
        self.registered = threading.Event()
        self.waiting = False  # the id is held by someone else; we wait for it to go
        self.written: dict | None = None  # the record this client last wrote (see Discovery._merge_foreign)

    @property
    def instance_id(self) -> str:
        return self.instance["instanceId"]

    def update(self, *, weight: float | None = None, enabled: bool | None = None, healthy: bool | None = None,
               metadata: dict | None = None) -> None:
        """Change this instance's record (kept across re-registrations)."""
        if weight is not None:
            self.instance["weight"] = model.check_weight(weight)
        if enabled is not None:
            self.instance["enabled"] = bool(enabled)
        if healthy is not None:
            self.instance["healthy"] = bool(healthy)
        if metadata is not None:
            self.instance["metadata"] = model.check_metadata(metadata)
        self.owner._push(self)

    def deregister(self) -> None:
        self.owner.deregister(self)

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc) -> None:
        self.deregister()


def _close_at_exit(client) -> None:
    """Close ``client`` when the interpreter exits cleanly (without keeping it alive until then)."""
    ref = weakref.ref(client)

    def close() -> None:
        obj = ref()
        if obj is not None:
            obj.close()

    atexit.register(close)
