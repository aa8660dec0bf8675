"""Step logs: masked, capped, batched into SQL chunks, and announced to live readers.

A run has one :class:`Journal`: the write-behind of its log chunks and step
records. Writers (:class:`LogWriter`, one per step) mask their output and hand
it to the journal, which writes everything pending in ONE transaction per
``FLUSH_SECONDS`` (or ``FLUSH_BYTES`` of output, or a stage boundary) — a
20-step stage of short commands costs a couple of transactions, not 20, and a
step printing 100 MB makes ~100 inserts, not a million. What is pending is at
most ``FLUSH_SECONDS`` old; after a kill the run is marked interrupted and its
unfinished steps aborted, so nothing a reader saw (readers only see SQL) is lost.

Each step stores at most ``log_limit`` bytes (default :data:`DEFAULT_LIMIT`,
``SHIPWAY_LOG_LIMIT`` or the pipeline's ``log_limit``; 0 = no limit) — like
GitLab's job log limit. Past it the log says so and the rest of the output is
read and discarded (the step keeps running).

Readers (SSE, CLI ``-f``) read chunks after an id and wait on
:class:`LogBroker` (a condition per process) between reads.
"""

from __future__ import annotations

import os
import queue
import threading
import time

from sqlalchemy import bindparam, insert, select, update

from shipway.core.store import Store
from shipway.pipelines.masking import ByteMasker, utf8_cut
from shipway.pipelines.models import LogChunk, StepRow

FLUSH_BYTES = 1 << 20
FLUSH_SECONDS = 0.2
PENDING = 4
DEFAULT_LIMIT = 4 << 20


def default_limit() -> int:
    """The server-wide per-step log limit in bytes (``SHIPWAY_LOG_LIMIT``; 0 = unlimited)."""
    raw = os.environ.get("SHIPWAY_LOG_LIMIT", "").strip()
    if not raw:
        return DEFAULT_LIMIT
    from shipway.pipelines.spec import parse_size
    return parse_size(raw)


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


class Journal:
    """Write-behind of one run's log chunks and step-record changes, stored in order.

    ``chunk``/``op`` only append in memory; :meth:`flush` stores everything pending in one transaction.
    A big backlog (a chatty step) is handed to a bounded writer thread so that masking the next megabyte
    and storing the last one overlap (sqlite releases the GIL while it writes).
    """

    def __init__(self, store: Store, broker: LogBroker | None, run_id: int) -> None:
        self.store, self.broker, self.run_id = store, broker, run_id
        self._lock = threading.Lock()          # the pending batch
        self._order = threading.Lock()         # batches are taken and stored (or queued) in this order
        self._chunks: list[dict] = []
        self._steps: dict[int, dict] = {}      # step id -> column values (start and end merged)
        self._ops: list = []                   # other callables(session)
        self._bytes = 0
        self._last = time.monotonic()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def chunk(self, step_id: int | None, text: str, op=None) -> None:
        """Append ``text`` of ``step_id`` (and optionally an op); flushes in the background past FLUSH_BYTES."""
        with self._lock:
            if text:
                last = self._chunks[-1] if self._chunks else None
                if last is not None and last["step_id"] == step_id and len(last["text"]) < FLUSH_BYTES:
                    last["text"] += text  # one row per step per flush
                else:
                    self._chunks.append({"run_id": self.run_id, "step_id": step_id, "text": text})
                self._bytes += len(text)
            if op is not None:
                self._ops.append(op)
            big = self._bytes >= FLUSH_BYTES
        if big:
            self._flush(background=True)

    def op(self, fn) -> None:
        """Append a record change (``fn(session)``), stored with the next flush."""
        self.chunk(None, "", fn)

    def step(self, step_id: int, **values) -> None:
        """Set columns of a step record with the next flush (a step's start and end become one UPDATE, and
        all steps of a flush one executemany)."""
        with self._lock:
            self._steps.setdefault(step_id, {}).update(values)

    def due(self) -> bool:
        return bool(self._chunks or self._ops or self._steps) and time.monotonic() - self._last >= FLUSH_SECONDS

    def flush_if_due(self) -> None:
        if self.due():
            self.flush()

    def flush(self, extra=None) -> None:
        """Store everything pending now, with ``extra(session)`` in the same transaction."""
        self._flush(extra=extra)
        self._raise()

    def close(self) -> None:
        """Flush and stop the writer thread (the run's end)."""
        self._flush()
        with self._order:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None
        self._raise()

    # -- internals -------------------------------------------------------------------
    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _take(self) -> tuple[list, dict, list]:
        with self._lock:
            batch = (self._chunks, self._steps, self._ops)
            self._chunks, self._steps, self._ops, self._bytes = [], {}, [], 0
            self._last = time.monotonic()
            return batch

    def _flush(self, extra=None, background: bool = False) -> None:
        with self._order:
            chunks, steps, ops = self._take()
            if not chunks and not steps and not ops and extra is None:
                return
            if background and self._thread is None:
                self._queue = queue.Queue(maxsize=PENDING)
                self._thread = threading.Thread(target=self._drain, daemon=True, name=f"log-journal-{self.run_id}")
                self._thread.start()
            if self._thread is None:
                self._store(chunks, steps, ops, extra)
                return
            self._queue.put((chunks, steps, ops, extra))  # bounded: a step outrunning the database waits here
        if not background:
            self._queue.join()

    def _store(self, chunks: list, steps: dict, ops: list, extra) -> None:
        with self.store.session() as s:
            if chunks:
                s.execute(insert(LogChunk), chunks)
            groups: dict[tuple, list[dict]] = {}
            for sid, values in steps.items():
                groups.setdefault(tuple(sorted(values)), []).append(dict(values, _sid=sid))
            for keys, rows in groups.items():  # one executemany per shape (usually one: start + end)
                s.connection().execute(
                    update(StepRow.__table__).where(StepRow.__table__.c.id == bindparam("_sid"))
                    .values({k: bindparam(k) for k in keys}), rows)
            for fn in ops:
                fn(s)
            if extra is not None:
                extra(s)
        if self.broker is not None:
            self.broker.notify()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._store(*item)
            except BaseException as e:  # noqa: BLE001 - raised by the next flush()/close()
                self._error = e
            finally:
                self._queue.task_done()


class LogWriter:
    """Masked, capped output of one step (thread-safe), handed to the run's :class:`Journal`.

    Without a journal the writer has a private one and :meth:`close` stores synchronously.
    """

    def __init__(self, store: Store, broker: LogBroker | None, run_id: int, step_id: int | None,
                 secrets: list[str], journal: Journal | None = None, limit: int | None = None) -> None:
        self.run_id, self.step_id = run_id, step_id
        self.journal = journal or Journal(store, broker, run_id)
        self._own_journal = journal is None
        self.masker = ByteMasker(secrets)
        self.limit = default_limit() if limit is None else int(limit)
        self.stored = 0           # bytes kept (after masking)
        self.discarded = 0        # bytes read past the limit
        self.truncated = False
        self._buf: list[bytes] = []
        self._size = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            if self.truncated:
                self.discarded += len(data)
                return
            self._add(self.masker.write(data))

    def discard(self, n: int) -> None:
        """Count ``n`` bytes read past the limit and thrown away unread (the fast drain of a chatty step)."""
        with self._lock:
            self.discarded += n

    def write(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8", "surrogateescape"))

    def line(self, text: str) -> None:
        """A line of shipway's own (e.g. '$ make test'), masked like the rest; never cut by the limit."""
        data = (text if text.endswith("\n") else text + "\n").encode("utf-8", "surrogateescape")
        with self._lock:
            self._add(self.masker.write(data) + self.masker.close(), own=True)

    def _add(self, data: bytes, own: bool = False) -> None:
        if not data:
            return
        if self.limit and not own and self.stored + len(data) > self.limit:
            keep = utf8_cut(data, self.limit - self.stored)
            self.discarded += len(data) - keep
            data = data[:keep] + (f"\n[shipway] log truncated: this step printed more than {self.limit} bytes "
                                  f"(log_limit); the rest of its output is not stored\n").encode()
            self.truncated = True
            self.masker.drop()  # the held-back bytes are never emitted (they may start a secret)
        self._buf.append(data)
        self._size += len(data)
        self.stored += len(data)
        if self._size >= FLUSH_BYTES:
            self._move()
        elif time.monotonic() - self._last >= FLUSH_SECONDS:
            self._move()
            self.journal.flush_if_due()

    def _move(self, op=None) -> None:
        self._last = time.monotonic()
        text = b"".join(self._buf).decode("utf-8", "replace") if self._buf else ""
        self._buf, self._size = [], 0
        if text or op is not None:
            self.journal.chunk(self.step_id, text, op)

    def start(self, **values) -> None:
        """Record the step's start (its columns, e.g. status and started_at) with the next flush."""
        if self.step_id is not None:
            self.journal.step(self.step_id, **values)

    def flush(self) -> None:
        """Hand buffered output to the journal and store it if the journal is due (the watchdog's tick)."""
        with self._lock:
            self._move()
        self.journal.flush_if_due()

    def close(self, finalize=None, **step_values) -> None:
        """Hand the rest (``finalize(session)``, and ``step_values``: the step's end columns) to the journal.

        Stored at once with a private journal or for run-level lines (no step); a step's within
        ``FLUSH_SECONDS`` (or at the stage's end, whichever comes first).
        """
        with self._lock:
            if not self.truncated:
                rest = self.masker.close()
                if rest:
                    self._buf.append(rest)
            elif self.discarded:
                self._buf.append(f"[shipway] {self.discarded} more bytes of output were not stored\n".encode())
            self._move(finalize)
            if step_values and self.step_id is not None:
                self.journal.step(self.step_id, **step_values)
        if self._own_journal:
            self.journal.close()
        elif self.step_id is None:  # shipway's own run-level lines (waiting, errors): shown at once
            self.journal.flush()
        else:
            self.journal.flush_if_due()


def read_chunks(store: Store, run_id: int, after: int = 0, step_id: int | None = None,
                limit: int = 200) -> list[tuple[int, int | None, str]]:
    """``(chunk_id, step_id, text)`` of a run after chunk ``after``, in order."""
    q = select(LogChunk.id, LogChunk.step_id, LogChunk.text).where(LogChunk.run_id == run_id,
                                                                    LogChunk.id > after)
    if step_id is not None:
        q = q.where(LogChunk.step_id == step_id)
    with store.session() as s:
        return [tuple(r) for r in s.execute(q.order_by(LogChunk.id).limit(limit)).all()]
