"""The run queue: run ids waiting for an executor.

Two implementations of one small interface: :class:`ZkRunQueue` (sequential
znodes under ``/shipway/pipelines/queue``, shared by every executor of the
installation, persistent across restarts) and :class:`MemoryRunQueue` (unit
tests). Claiming is NOT done here: the executor claims a run in SQL with a
conditional update (``queued → running``), so two executors that read the
same item never both run it, and a duplicate item is harmless.
"""

from __future__ import annotations

import threading
from typing import Protocol

from kazoo.exceptions import NoNodeError, NodeExistsError

from shipway.pipelines import paths


class RunQueue(Protocol):
    def put(self, run_id: int) -> None: ...

    def items(self) -> list[tuple[str, int]]: ...

    def remove(self, item: str) -> None: ...

    def wait(self, timeout: float) -> None: ...

    def register_executor(self, executor_id: str) -> None: ...

    def executor_alive(self, executor_id: str) -> bool: ...


class MemoryRunQueue:
    """In-process queue for unit tests and single-process use without ZooKeeper."""

    def __init__(self) -> None:
        self._items: dict[str, int] = {}
        self._seq = 0
        self._cond = threading.Condition()
        self._event = threading.Event()  # like ZkRunQueue: a put while the executor is busy is not lost
        self._alive: set[str] = set()

    def put(self, run_id: int) -> None:
        with self._cond:
            self._seq += 1
            self._items[f"run-{self._seq:010d}"] = run_id
        self._event.set()

    def items(self) -> list[tuple[str, int]]:
        with self._cond:
            return sorted(self._items.items())

    def remove(self, item: str) -> None:
        with self._cond:
            self._items.pop(item, None)

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def register_executor(self, executor_id: str) -> None:
        self._alive.add(executor_id)

    def executor_alive(self, executor_id: str) -> bool:
        return executor_id in self._alive


class ZkRunQueue:
    """The queue in ZooKeeper; ``client`` is a callable returning the current kazoo client."""

    def __init__(self, client) -> None:
        self._client = client
        self._event = threading.Event()
        self._watching = False
        self._lock = threading.Lock()

    @property
    def zk(self):
        return self._client()

    def _ensure_watch(self) -> None:
        with self._lock:
            if self._watching:
                return
            self.zk.ensure_path(paths.QUEUE)
            self.zk.ensure_path(paths.EXECUTORS)

            def changed(_children):
                self._event.set()  # never block in a watcher: just wake the executor
                return True

            self.zk.ChildrenWatch(paths.QUEUE, changed)
            self._watching = True

    def put(self, run_id: int) -> None:
        try:  # the queue's parent exists but for the very first run: no `exists` round trip per run
            self.zk.create(paths.queue_item_prefix(), str(run_id).encode(), sequence=True)
        except NoNodeError:
            self.zk.ensure_path(paths.QUEUE)
            self.zk.create(paths.queue_item_prefix(), str(run_id).encode(), sequence=True)

    def items(self) -> list[tuple[str, int]]:
        self._ensure_watch()
        out = []
        for child in sorted(self.zk.get_children(paths.QUEUE)):
            try:
                data, _ = self.zk.get(f"{paths.QUEUE}/{child}")
                out.append((child, int(data.decode() or 0)))
            except (NoNodeError, ValueError):
                continue
        return out

    def remove(self, item: str) -> None:
        try:
            self.zk.delete(f"{paths.QUEUE}/{item}")
        except NoNodeError:
            pass

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def register_executor(self, executor_id: str) -> None:
        self.zk.ensure_path(paths.EXECUTORS)
        try:
            self.zk.create(paths.executor(executor_id), b"", ephemeral=True)
        except NodeExistsError:
            pass

    def executor_alive(self, executor_id: str) -> bool:
        return self.zk.exists(paths.executor(executor_id)) is not None
