"""Group commit: writes that arrive together are made in one shared write.

The first caller becomes the leader and writes its item at once; items submitted while that write is in
flight queue up, and when it ends the first of them becomes the next leader and writes the whole queue
in one go (no background thread, no timer: a lone caller never waits for company). One write per batch
instead of one per item is what saves the round trips and the per-write CPU of a busy server.

If a batched write fails, every item of the batch is written again alone, so one bad item (a conflict,
a missing parent) fails only its own caller, with its own error.

Under gevent (``shipway serve``) a blocking write — SQLite's — never yields, so nobody can queue up behind it
and every batch would hold one item. There a leader first lets the event loop turn (up to
:data:`MAX_WAIT_TURNS` times) while ``company()`` says more writers are on their way than are queued: the
publishes whose ZooKeeper replies are in the socket get to queue. Measured with 8 concurrent publishing
clients (``bench/config_publish_throughput.py``): ~1,030 → ~1,470 acknowledged config publishes/s. A lone
writer (``company()`` = 1) never waits.

Used by the config center for the SQL history rows of concurrent publishes (``config_center/commit.py``).
(Tried twice for the naming service's ZooKeeper transactions. Before that wait existed no batch could form
under gevent. With it, batches form and ZooKeeper's CPU per registration falls ~20 % with four registering
clients, but their throughput stays the same: it is bound by the lockstep of server CPU and ZooKeeper's commit
latency. A lone registration lost ~5 %, so it was left out again.)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_WAIT_TURNS = 3  # event-loop turns a leader waits at most for writers on their way (gevent only)


@dataclass(eq=False)
class _Slot(Generic[T]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class Batcher(Generic[T]):
    """Leader/follower batching of ``write(items)``; ``submit`` returns once its item is written."""

    def __init__(self, write: Callable[[list[T]], None], *, write_one: Callable[[T], None] | None = None,
                 max_batch: int = 256, name: str = "batch", retry_log_level: int = logging.WARNING,
                 company: Callable[[], int] | None = None) -> None:
        """``company``: how many writers are between their start and the end of their ``submit`` (queued ones
        included) — lets a leader under gevent wait for those on their way (see the module doc)."""
        self._write_many = write
        self._company = company
        self._turn = _event_loop_turn() if company is not None else None
        self._write_one = write_one or (lambda item: write([item]))
        self.max_batch = max_batch
        self.name = name
        self.retry_log_level = retry_log_level  # DEBUG where a failed batch is routine
        self._lock = threading.Lock()
        self._queue: list[_Slot[T]] = []
        self._busy = False
        #: batches and items written (for tests and the docs' figures)
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> None:
        """Return once ``item`` is written; raise what its write raised otherwise."""
        slot = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead:
            slot.done.wait()
            if not slot.lead:
                if slot.error is not None:
                    raise slot.error
                return
        self._lead(slot)
        if slot.error is not None:
            raise slot.error

    def _lead(self, me: _Slot[T]) -> None:
        if self._turn is not None:
            for _ in range(MAX_WAIT_TURNS):
                with self._lock:
                    coming = self._company() - len(self._queue)
                if coming <= 0:
                    break
                self._turn()
        with self._lock:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        nxt = None
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._queue:
                    nxt = self._queue[0]
                    nxt.lead = True  # stays busy: leadership passes to the next waiting caller
                else:
                    self._busy = False
            for s in batch:
                if s is not me:
                    s.done.set()
            if nxt is not None:
                nxt.done.set()

    def _write(self, batch: list[_Slot[T]]) -> None:
        if len(batch) > 1:
            try:
                self._write_many([s.item for s in batch])
                self.batches += 1
                self.items += len(batch)
                return
            except Exception:  # noqa: BLE001 - retried item by item below
                log.log(self.retry_log_level, "%s of %d items failed; writing them one by one", self.name,
                        len(batch), exc_info=True)
        for s in batch:
            try:
                self._write_one(s.item)
                self.batches += 1
                self.items += 1
            except Exception as e:  # noqa: BLE001 - handed to that item's caller
                s.error = e


def _event_loop_turn() -> Callable[[], None] | None:
    """Under gevent: a function that returns after one turn of the event loop (a zero timer: ``sleep(0)``
    would only run the greenlets already scheduled, not read the sockets). ``None`` with real threads, whose
    writers queue up during a write by themselves."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return None
    if not monkey.is_module_patched("threading"):
        return None
    import gevent
    return lambda: gevent.sleep(1e-6)
