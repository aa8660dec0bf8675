"""Group commit: the SQL side of concurrent publishes written in ONE transaction.

A publish writes its value to ZooKeeper first, then hands a :class:`Record` (history row, audit row,
index update) to :class:`GroupCommit` and waits until that record is durable in SQL; only then is the
caller answered. Publishes that arrive while a transaction is being written wait for the next one, which
takes all of them (leader/follower, :class:`shipway.core.batching.Batcher`) and writes the whole batch
with ``executemany`` in one transaction. One transaction per batch instead of two per publish is what
saves the SQL work of a publish.

If a batch fails, every record of it is retried alone, so one bad record (e.g. a version another
server recorded meanwhile) fails only its own publish.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.exc import IntegrityError

from shipway.config_center import sql
from shipway.config_center.models import RowState
from shipway.config_center.paths import Value
from shipway.core.batching import Batcher
from shipway.core.store import utcnow

MAX_BATCH = 256


@dataclass(eq=False)
class Record:
    """What one acknowledged publish needs in SQL: its history row (committed), audit row and index."""

    key: tuple[str, str, str]
    op: str
    value: Value
    author: str
    source_ip: str
    action: str

    def history_row(self) -> dict[str, Any]:
        v = self.value
        return {"namespace": self.key[0], "group_name": self.key[1], "data_id": self.key[2], "version": v.version,
                "op": self.op, "state": RowState.COMMITTED.value, "content": v.content, "md5": v.md5, "type": v.type,
                "description": v.desc, "tags": ",".join(v.tags), "author": self.author, "source_ip": self.source_ip,
                "created_at": utcnow()}

    def audit_row(self) -> dict[str, Any]:
        return {"at": utcnow(), "actor": self.author, "source_ip": self.source_ip, "action": self.action,
                "namespace": self.key[0], "group_name": self.key[1], "data_id": self.key[2],
                "version": self.value.version, "detail": f"md5={self.value.md5}"}


class GroupCommit:
    """Writes :class:`Record` s of concurrent publishes in shared SQL transactions (see the module doc)."""

    def __init__(self, engine, index: Callable[[Any, Any, Value], None]) -> None:
        self.engine = engine
        self._index = index  # index_core(conn, key, value): one config's index row, inside a transaction
        #: publishes between their start and their record's commit (see :meth:`publishing`)
        self.in_flight = 0
        self._count_lock = threading.Lock()
        self._batcher: Batcher[Record] = Batcher(self._transaction, write_one=self._one, max_batch=MAX_BATCH,
                                                 company=lambda: self.in_flight,
                                                 name="config group commit")

    @contextmanager
    def publishing(self):
        """Count a publish on its way to :meth:`submit` (a leader under gevent waits a loop turn or two for
        such publishes to queue up: :mod:`shipway.core.batching`)."""
        with self._count_lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def submit(self, record: Record) -> None:
        """Return once ``record`` is committed to SQL; raise what the database raised otherwise."""
        self._batcher.submit(record)

    @property
    def batches(self) -> int:
        """Transactions written (for tests and the docs' figures)."""
        return self._batcher.batches

    @property
    def records(self) -> int:
        """Records written."""
        return self._batcher.items

    def _one(self, record: Record) -> None:
        try:
            self._transaction([record])
        except IntegrityError:
            # A row with that version already exists but was never committed (a pending or aborted row
            # left by an interrupted write, maybe by another server): ZooKeeper holds OUR value for that
            # version, so it replaces the undecided row.
            with self.engine.begin() as conn:
                conn.execute(sql.DELETE_UNDECIDED, {**sql.key_params(record.key), "version": record.value.version})
            self._transaction([record])

    def _transaction(self, records: list[Record]) -> None:
        with self.engine.begin() as conn:
            conn.execute(sql.INSERT_HISTORY, [r.history_row() for r in records])
            conn.execute(sql.INSERT_AUDIT, [r.audit_row() for r in records])
            for r in records:
                self._index(conn, r.key, r.value)
