"""A run's journal: the write-behind of its log output and record changes, and the broker that wakes
live readers.

Output handed to :class:`Journal` (masked bytes, see :mod:`.logs`) is appended at once to the run's log file;
the index rows, the step records and other record changes wait in memory and :meth:`Journal.flush` (every
``FLUSH_SECONDS``, at stage boundaries) stores them in ONE transaction — or :meth:`Journal.transaction` lets a
caller add its own change to that transaction (the run's end). :class:`LogBroker` is the per-process condition
live readers (SSE, CLI ``-f``) wait on between reads.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from sqlalchemy.orm import Session

from shipway.core.store import Store
from shipway.pipelines import statements as sql

FLUSH_BYTES = 1 << 20
FLUSH_SECONDS = 0.2


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


class PendingId:
    """The id of a record the journal inserts with its next flush. Rows that refer to it (log spans, step
    changes) may be queued before it is known: the journal stores its record changes first, then resolves
    the ids in the same transaction."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: int | None = None

    def __repr__(self) -> str:
        return f"PendingId({self.value})"


def _resolve(ref):
    return ref.value if isinstance(ref, PendingId) else ref


def _write_all(fd: int, parts: list[bytes]) -> int:
    """Write ``parts`` in order with ``writev`` (no joined copy); ``writev`` may write less than asked
    (signals, huge buffers): the rest is written again. Returns the number of bytes."""
    size = sum(len(p) for p in parts)
    left = size
    views = [memoryview(p) for p in parts]
    while left:
        n = os.writev(fd, views[:1024])  # IOV_MAX
        left -= n
        while n:
            if n >= len(views[0]):
                n -= len(views.pop(0))
            else:
                views[0], n = views[0][n:], 0
    return size


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
        self._urgent = False                   # holds records to store as soon as a step runs (see spawned)
        self._last = time.monotonic()

    def chunk(self, step_id: int | None, pieces: list[bytes], op=None, urgent: bool = False) -> None:
        """Append ``pieces`` (masked output of ``step_id``, written with one ``writev``) to the file; index
        them (and ``op``) with the next flush (``urgent``: see :meth:`op`)."""
        parts = [p for p in pieces if p]
        with self._lock:
            if parts:
                if self._fd is None:
                    self._open()
                offset = self._end
                size = _write_all(self._fd, parts)
                self._end += size
                last = self._spans[-1] if self._spans else None
                if (last is not None and last["step_id"] == step_id and last["offset"] + last["length"] == offset
                        and last["length"] < FLUSH_BYTES):
                    last["length"] += size  # one row per step per flush (up to ~1 MiB: SSE event size)
                else:
                    self._spans.append({"run_id": self.run_id, "step_id": step_id, "file": str(self.path),
                                        "offset": offset, "length": size})
            if op is not None:
                self._ops.append(op)
                self._urgent = self._urgent or urgent

    def op(self, fn, urgent: bool = False) -> None:
        """Append a record change (``fn(session)``), stored with the next flush. ``urgent``: a record the run
        view should show at once (a stage's start, its steps): stored as soon as the next step's process is
        started (:meth:`spawned`), while it runs, instead of delaying its start."""
        self.chunk(None, [], fn, urgent)

    def spawned(self) -> None:
        """A step's process has just started: store the urgent records now, while it runs (they no longer
        delay its start; the run waits for the step anyway)."""
        if self._urgent:
            self.flush()

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
                self._spans, self._steps, self._ops, self._urgent = [], {}, [], False
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
        for fn in ops:  # first: they insert the records the other rows may refer to (PendingId)
            fn(s)
        if spans:
            s.connection().execute(sql.SPANS_INSERT, [dict(r, step_id=_resolve(r["step_id"])) for r in spans])
        groups: dict[tuple, list[dict]] = {}
        for sid, values in steps.items():
            groups.setdefault(tuple(sorted(values)), []).append(dict(values, _sid=_resolve(sid)))
        for keys, rows in groups.items():  # one executemany per shape (usually one: start + end)
            s.connection().execute(sql.step_update(keys), rows)

    def _put_back(self, spans: list[dict], steps: dict[int, dict], ops: list) -> None:
        with self._lock:  # the failed batch first: it is older than anything added meanwhile
            for sid, values in self._steps.items():
                steps.setdefault(sid, {}).update(values)
            self._spans, self._steps, self._ops = spans + self._spans, steps, ops + self._ops
            self._urgent = self._urgent or bool(ops)

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
