"""A deduplicating, rate-limited work queue (client-go's workqueue, small).

A key is queued at most once; a key being processed and queued again is
processed again afterwards; :meth:`requeue` adds it back after an exponential
back-off (5 ms doubling to 30 s, reset by :meth:`forget`); :meth:`add_after`
schedules a key for later (minReadySeconds, progress deadlines, back-offs).
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Hashable


class WorkQueue:
    def __init__(self, base_delay: float = 0.005, max_delay: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._queue: list[Hashable] = []
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._later: list[tuple[float, int, Hashable]] = []
        self._failures: dict[Hashable, int] = {}
        self._seq = 0
        self._closed = False
        self.base_delay, self.max_delay = base_delay, max_delay

    def add(self, key: Hashable) -> None:
        with self._cond:
            if self._closed or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            self._seq += 1
            heapq.heappush(self._later, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def requeue(self, key: Hashable) -> None:
        """Add ``key`` again after its next back-off delay (an error happened)."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.max_delay, self.base_delay * (2 ** n)))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def get(self, timeout: float = 1.0) -> Hashable | None:
        """The next key to process (call :meth:`done` after), or None on timeout/close."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    _, _, key = heapq.heappop(self._later)
                    if key not in self._dirty:
                        self._dirty.add(key)
                        if key not in self._processing:
                            self._queue.append(key)
                if self._queue:
                    key = self._queue.pop(0)
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._closed or now >= deadline:
                    return None
                wait = deadline - now
                if self._later:
                    wait = min(wait, self._later[0][0] - now)
                self._cond.wait(max(wait, 0.001))

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)
