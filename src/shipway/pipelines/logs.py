"""Step logs: masked, capped, appended to a file per run, indexed in SQL, and announced to live readers.

A run has one :class:`Journal`: the write-behind of its log and step records.
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

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipway.core.store import Store
from shipway.pipelines.masking import ByteMasker, utf8_cut
from shipway.pipelines import statements as sql
from shipway.pipelines.models import LogChunk, LogSpan

FLUSH_BYTES = 1 << 20
FLUSH_SECONDS = 0.2
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
    """Write-behind of one run's log and step-record changes.

    Output (:meth:`chunk`, masked bytes) is appended at once to the run's log file
    ``<log_dir>/<run id>.log`` (page cache: it survives a kill of shipway); its index rows
    (:class:`~shipway.pipelines.models.LogSpan`: step, offset, length — contiguous output of one step is one
    row per flush) and the step records wait in memory, and :meth:`flush` stores them in ONE transaction.
    """

    def __init__(self, store: Store, broker: LogBroker | None, run_id: int, log_dir: Path) -> None:
        self.store, self.broker, self.run_id = store, broker, run_id
        self.path = Path(log_dir) / f"{int(run_id)}.log"
        self._lock = threading.Lock()          # the file offset and the pending batch
        self._order = threading.Lock()         # batches are taken and stored in this order
        self._fd: int | None = None
        self._end = 0                          # the file's size: where the next append lands
        self._spans: list[dict] = []
        self._steps: dict[int, dict] = {}      # step id -> column values (start and end merged)
        self._ops: list = []                   # other callables(session)
        self._last = time.monotonic()

    def chunk(self, step_id: int | None, data: bytes, op=None) -> None:
        """Append ``data`` (masked output of ``step_id``) to the file; index it (and ``op``) with the next flush."""
        with self._lock:
            if data:
                if self._fd is None:
                    self._open()
                offset = self._end
                view = memoryview(data)
                while view:  # os.write may write less than asked (signals, huge buffers)
                    view = view[os.write(self._fd, view):]
                self._end += len(data)
                last = self._spans[-1] if self._spans else None
                if (last is not None and last["step_id"] == step_id and last["offset"] + last["length"] == offset
                        and last["length"] < FLUSH_BYTES):
                    last["length"] += len(data)  # one row per step per flush (up to ~1 MiB: SSE event size)
                else:
                    self._spans.append({"run_id": self.run_id, "step_id": step_id, "file": str(self.path),
                                        "offset": offset, "length": len(data)})
            if op is not None:
                self._ops.append(op)

    def op(self, fn) -> None:
        """Append a record change (``fn(session)``), stored with the next flush."""
        self.chunk(None, b"", fn)

    def step(self, step_id: int, **values) -> None:
        """Set columns of a step record with the next flush (a step's start and end become one UPDATE, and
        all steps of a flush one executemany)."""
        with self._lock:
            self._steps.setdefault(step_id, {}).update(values)

    def due(self) -> bool:
        return bool(self._spans or self._ops or self._steps) and time.monotonic() - self._last >= FLUSH_SECONDS

    def flush_if_due(self) -> None:
        if self.due():
            self.flush()

    def flush(self, extra=None) -> None:
        """Store everything pending now, with ``extra(session)`` in the same transaction."""
        if extra is None and not (self._spans or self._steps or self._ops):
            return
        with self.transaction() as s:
            if extra is not None:
                extra(s)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A store session that has written everything pending (in order) and commits at the end of the
        block: callers add their own change to the same transaction. If the block fails, the batch goes
        back to pending (stored by the next flush), nothing is lost."""
        with self._order:
            with self._lock:
                batch = self._spans, self._steps, self._ops
                self._spans, self._steps, self._ops = [], {}, []
                self._last = time.monotonic()
            try:
                with self.store.session() as s:
                    self._write(s, *batch)
                    yield s
            except BaseException:
                self._put_back(*batch)
                raise
        if self.broker is not None:
            self.broker.notify()

    @staticmethod
    def _write(s: Session, spans: list[dict], steps: dict[int, dict], ops: list) -> None:
        if spans:
            s.connection().execute(sql.SPANS_INSERT, spans)
        groups: dict[tuple, list[dict]] = {}
        for sid, values in steps.items():
            groups.setdefault(tuple(sorted(values)), []).append(dict(values, _sid=sid))
        for keys, rows in groups.items():  # one executemany per shape (usually one: start + end)
            s.connection().execute(sql.step_update(keys), rows)
        for fn in ops:
            fn(s)

    def _put_back(self, spans: list[dict], steps: dict[int, dict], ops: list) -> None:
        with self._lock:  # the failed batch first: it is older than anything added meanwhile
            for sid, values in self._steps.items():
                steps.setdefault(sid, {}).update(values)
            self._spans, self._steps, self._ops = spans + self._spans, steps, ops + self._ops

    def close(self) -> None:
        """Flush and close the file (the run's end, or a pause at an approval)."""
        try:
            self.flush()
        finally:
            with self._lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: a resumed run (after an approval, a restart) continues the same file; 0600: logs are masked
        # but still the project's business.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o600)
        self._end = os.fstat(self._fd).st_size


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
        data = (self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)) if self._buf else b""
        self._buf, self._size = [], 0
        if data or op is not None:
            self.journal.chunk(self.step_id, data, op)

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
