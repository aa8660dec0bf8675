"""Step logs: masked, capped, appended to a file per run, indexed in SQL, and announced to live readers.

A run has one :class:`~shipway.pipelines.journal.Journal`: the write-behind of its log and step records.
Writers (:class:`LogWriter`, one per step) mask their output and hand it to the
journal, which appends it at once to the run's log file and writes the index
rows and step records in ONE transaction per ``FLUSH_SECONDS`` (or stage
boundary) — a 20-step stage of short commands costs a couple of transactions,
not 20, and a step printing 100 MB costs a file append, not 100 MB through the
database. What is pending is at most ``FLUSH_SECONDS`` old; after a kill the
run is marked interrupted and its unfinished steps aborted, so nothing a reader
saw (readers only see what is indexed in SQL) is lost.

Each step stores at most ``log_limit`` bytes (default :data:`DEFAULT_LIMIT`,
``SHIPWAY_LOG_LIMIT`` or the pipeline's ``log_limit``; 0 = no limit) — like
GitLab's job log limit. Past it the log says so and the rest of the output is
read and discarded (the step keeps running).

Readers (SSE, CLI ``-f``) read chunks after an id (:func:`read_chunks`) and wait on
:class:`LogBroker` (a condition per process) between reads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from sqlalchemy import select

from shipway.core.store import Store
from shipway.pipelines.journal import FLUSH_BYTES, FLUSH_SECONDS, Journal, LogBroker
from shipway.pipelines.masking import ByteMasker, utf8_cut
from shipway.pipelines.models import LogChunk, LogSpan

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 4 << 20


def default_limit() -> int:
    """The server-wide per-step log limit in bytes (``SHIPWAY_LOG_LIMIT``; 0 = unlimited)."""
    raw = os.environ.get("SHIPWAY_LOG_LIMIT", "").strip()
    if not raw:
        return DEFAULT_LIMIT
    from shipway.pipelines.spec import parse_size
    return parse_size(raw)


class LogWriter:
    """Masked, capped output of one step (thread-safe), handed to the run's :class:`Journal`.

    Without a journal the writer has a private one and :meth:`close` stores synchronously.
    """

    def __init__(self, store: Store, broker: LogBroker | None, run_id: int, step_id: int | None,
                 secrets: list[str], journal: Journal | None = None, limit: int | None = None,
                 log_dir: Path | None = None) -> None:
        self.run_id, self.step_id = run_id, step_id
        self.journal = journal or Journal(store, broker, run_id, log_dir)
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
            while data and self.limit and not self.truncated:
                # Near the limit only what can still be stored is masked (plus what may complete a secret
                # begun before the cut): masking a whole big read to keep a part of it would be wasted.
                take = self.limit - self.stored + self.masker.keep + 1
                if take >= len(data):
                    break
                self._add(self.masker.write(data[:take]))
                data = data[take:]
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
            self.discarded += self.masker.drop()  # held-back bytes are never emitted (they may start a secret)
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
        parts, self._buf, self._size = self._buf, [], 0
        if parts or op is not None:
            self.journal.chunk(self.step_id, parts, op)  # the pieces as they are: one writev, no join

    def start(self, **values) -> None:
        """Record the step's start (its columns, e.g. status and started_at) with the next flush."""
        if self.step_id is not None:
            self.journal.step(self.step_id, **values)

    def spawned(self) -> None:
        """The step's process has started: the journal stores its urgent records now, while the process runs.
        A failure is logged, not raised (the batch stays pending; the step must not be abandoned for it)."""
        try:
            self.journal.spawned()
        except Exception:  # noqa: BLE001
            log.exception("cannot store the records of run %s now; retried with the next flush", self.run_id)

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
    """``(chunk_id, step_id, text)`` of a run after chunk ``after``, in order (from the run's log file; runs
    logged before log files existed from their SQL chunks)."""
    q = select(LogSpan.id, LogSpan.step_id, LogSpan.file, LogSpan.offset, LogSpan.length).where(
        LogSpan.run_id == run_id, LogSpan.id > after)
    if step_id is not None:
        q = q.where(LogSpan.step_id == step_id)
    with store.session() as s:
        spans = s.execute(q.order_by(LogSpan.id).limit(limit)).all()
        if not spans:
            legacy = select(LogChunk.id, LogChunk.step_id, LogChunk.text).where(LogChunk.run_id == run_id,
                                                                                LogChunk.id > after)
            if step_id is not None:
                legacy = legacy.where(LogChunk.step_id == step_id)
            return [tuple(r) for r in s.execute(legacy.order_by(LogChunk.id).limit(limit)).all()]
    out: list[tuple[int, int | None, str]] = []
    fds: dict[str, int] = {}
    try:
        for sid, step, file, offset, length in spans:
            fd = fds.get(file)
            if fd is None:
                try:
                    fd = fds[file] = os.open(file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except OSError:
                    out.append((sid, step, f"[shipway] log file {Path(file).name} is missing\n"))
                    continue
            out.append((sid, step, os.pread(fd, length, offset).decode("utf-8", "replace")))
    finally:
        for fd in fds.values():
            os.close(fd)
    return out


__all__ = ["DEFAULT_LIMIT", "FLUSH_BYTES", "FLUSH_SECONDS", "Journal", "LogBroker", "LogWriter", "default_limit",
           "read_chunks"]
