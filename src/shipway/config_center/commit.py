"""Group commit: the SQL side of concurrent publishes written in ONE transaction.

A publish writes its value to ZooKeeper first, then hands a :class:`Record` (history row, audit row,
index update) to :class:`GroupCommit` and waits until that record is durable in SQL; only then is the
caller answered. Publishes that arrive while a transaction is being written wait for the next one, which
takes all of them (leader/follower, no background thread): the first waiting publish becomes the
leader, takes every record queued meanwhile, writes the whole batch with ``executemany`` in one transaction, wakes the others and hands
leadership to the next waiting publish. One transaction per batch instead of two per publish is what
saves the SQL work of a publish.

If a batch fails, every record of it is retried alone, so one bad record (e.g. a version another
server recorded meanwhile) fails only its own publish.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.exc import IntegrityError

from shipway.config_center import sql
from shipway.config_center.models import RowState
from shipway.config_center.paths import Value
from shipway.core.store import utcnow

log = logging.getLogger(__name__)

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


@dataclass(eq=False)
class _Slot:
    record: Record
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Writes :class:`Record` s of concurrent publishes in shared SQL transactions (see the module doc)."""

    def __init__(self, engine, index: Callable[[Any, Any, Value], None]) -> None:
        self.engine = engine
        self._index = index  # index_core(conn, key, value): one config's index row, inside a transaction
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._busy = False
        #: batches and records written (for tests and the docs' figures)
        self.batches = 0
        self.records = 0

    def submit(self, record: Record) -> None:
        """Return once ``record`` is committed to SQL; raise what the database raised otherwise."""
        slot = _Slot(record)
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

    def _lead(self, me: _Slot) -> None:
        with self._lock:
            batch = self._queue[:MAX_BATCH]
            del self._queue[:MAX_BATCH]
        nxt = None
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._queue:
                    nxt = self._queue[0]
                    nxt.lead = True  # stays busy: leadership passes to the next waiting publish
                else:
                    self._busy = False
            for s in batch:
                if s is not me:
                    s.done.set()
            if nxt is not None:
                nxt.done.set()

    def _write(self, batch: list[_Slot]) -> None:
        try:
            self._transaction([s.record for s in batch])
            self.batches += 1
            self.records += len(batch)
            return
        except Exception:  # noqa: BLE001 - retried record by record below
            if len(batch) == 1:
                pass
            else:
                log.warning("config group commit of %d records failed; retrying them one by one", len(batch),
                            exc_info=True)
        for s in batch:
            try:
                self._one(s.record)
                self.batches += 1
                self.records += 1
            except Exception as e:  # noqa: BLE001 - handed to that publish's caller
                s.error = e

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
