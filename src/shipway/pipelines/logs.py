"""Step logs: masked, batched into SQL chunks, and announced to live readers.

Writers (:class:`LogWriter`) buffer masked text and insert one row per
``FLUSH_BYTES`` or ``FLUSH_SECONDS`` — a step printing 100 MB makes ~100
inserts, not a million. Readers (SSE, CLI ``-f``) read chunks after an id and
wait on :class:`LogBroker` (a condition per process) between reads, so a live
reader sees output within ~``FLUSH_SECONDS`` and never busy-polls.
"""

from __future__ import annotations

import queue
import threading
import time

from sqlalchemy import insert, select

from shipway.core.store import Store
from shipway.pipelines.masking import Masker
from shipway.pipelines.models import LogChunk

FLUSH_BYTES = 1 << 20
FLUSH_SECONDS = 0.2
PENDING = 4


class LogBroker:
    """Wakes live log readers when new chunks (or a run's end) are stored."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0

    def notify(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until something newer than ``seen`` happened (or ``timeout``); return the new version."""
        with self._cond:
            if self._version == seen:
                self._cond.wait(timeout)
            return self._version

    @property
    def version(self) -> int:
        return self._version


class LogWriter:
    """Masked, batched log output of one step (thread-safe: parallel readers of stdout/stderr)."""

    def __init__(self, store: Store, broker: LogBroker, run_id: int, step_id: int | None,
                 secrets: list[str]) -> None:
        self.store, self.broker, self.run_id, self.step_id = store, broker, run_id, step_id
        self.masker = Masker(secrets)
        self._buf: list[str] = []
        self._size = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        # A chatty step hands full chunks to a writer thread so that masking the next megabyte and
        # storing the last one overlap (sqlite releases the GIL while it writes). Bounded: at most
        # PENDING chunks wait, then the reader (and so the step's pipe) waits too.
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.on_first_store = None  # callable(session) run inside the first transaction (step "running")

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            self._add(self.masker.write_bytes(data))

    def write(self, text: str) -> None:
        with self._lock:
            self._add(self.masker.write(text))

    def line(self, text: str) -> None:
        """A line of shipway's own (e.g. '$ make test'), masked like the rest."""
        self.write(text if text.endswith("\n") else text + "\n")

    def _add(self, text: str) -> None:
        if text:
            self._buf.append(text)
            self._size += len(text)
        if self._size >= FLUSH_BYTES:
            self._flush(background=True)
        elif self._buf and time.monotonic() - self._last >= FLUSH_SECONDS:
            self._flush()

    def _store(self, text: str, finalize) -> None:
        with self.store.session() as s:
            if self.on_first_store is not None:
                self.on_first_store(s)
                self.on_first_store = None
            if text:
                s.execute(insert(LogChunk), [{"run_id": self.run_id, "step_id": self.step_id, "text": text}])
            if finalize is not None:
                finalize(s)  # e.g. the step's final status: one transaction per step end, not two
        self.broker.notify()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._store(*item)
            except BaseException as e:  # noqa: BLE001 - reported by close()
                self._error = e

    def _flush(self, finalize=None, background: bool = False) -> None:
        self._last = time.monotonic()
        if not self._buf and finalize is None:
            return
        text = "".join(self._buf)
        self._buf, self._size = [], 0
        if background and self._thread is None:
            self._queue = queue.Queue(maxsize=PENDING)
            self._thread = threading.Thread(target=self._drain, daemon=True, name="log-writer")
            self._thread.start()
        if self._thread is not None:  # once there is a writer thread, everything goes through it (order)
            self._queue.put((text, finalize))
        else:
            self._store(text, finalize)

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def close(self, finalize=None) -> None:
        """Flush the rest; ``finalize(session)`` runs in the same transaction as the last chunk."""
        with self._lock:
            rest = self.masker.close()
            if rest:
                self._buf.append(rest)
            self._flush(finalize)
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None
            if self._error is not None:
                raise self._error


def read_chunks(store: Store, run_id: int, after: int = 0, step_id: int | None = None,
                limit: int = 200) -> list[tuple[int, int | None, str]]:
    """``(chunk_id, step_id, text)`` of a run after chunk ``after``, in order."""
    q = select(LogChunk.id, LogChunk.step_id, LogChunk.text).where(LogChunk.run_id == run_id,
                                                                    LogChunk.id > after)
    if step_id is not None:
        q = q.where(LogChunk.step_id == step_id)
    with store.session() as s:
        return [tuple(r) for r in s.execute(q.order_by(LogChunk.id).limit(limit)).all()]
