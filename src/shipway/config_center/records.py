"""The SQL side of an acknowledged publish: its history row, audit row and index row, in one transaction.

:class:`RecordWriter` writes the :class:`Record` s of a batch of publishes (``commit.py``) with the driver
cursor's ``executemany`` (:class:`shipway.config_center.sql.BatchStatements`), and writes a record again
alone when its batch failed, so one bad record fails only its own publish.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.exc import IntegrityError

from shipway.config_center import sql
from shipway.config_center.models import RowState
from shipway.config_center.paths import Value
from shipway.core.store import utcnow


@dataclass(eq=False)
class Record:
    """What one acknowledged publish needs in SQL: its history row (committed), audit row and index row."""

    key: tuple[str, str, str]
    op: str
    value: Value
    author: str
    source_ip: str
    action: str


class RecordWriter:
    """Writes :class:`Record` s to the SQL store (history, audit, index), a transaction per call."""

    def __init__(self, engine, index: Callable[[Any, Any, Value], None]) -> None:
        self.engine = engine
        self._index = index  # index_core(conn, key, value): where the dialect has no upsert (see sql.py)
        self._statements = sql.BatchStatements(engine.dialect)
        self._integrity_errors = (IntegrityError, engine.dialect.dbapi.IntegrityError)
        # One transaction at a time: with threads, SQLite would make the others wait in its busy handler.
        self._lock = threading.Lock()
        self._conn = None  # see _connection

    def write(self, records: list[Record]) -> None:
        """Write ``records`` in one transaction; raise what the database raised (nothing is written then)."""
        stmts = self._statements
        stamp = stmts.stamp(utcnow())
        history, audit, index = [], [], []
        for r in records:
            (ns, group, data_id), v = r.key, r.value
            tags = ",".join(v.tags)
            history.append((ns, group, data_id, v.version, r.op, RowState.COMMITTED.value, v.content, v.md5, v.type,
                            v.desc, tags, r.author, r.source_ip, stamp))
            audit.append((stamp, r.author, r.source_ip, r.action, ns, group, data_id, v.version, f"md5={v.md5}"))
            index.append((ns, group, data_id, v.version, v.md5, v.type, len(v.content.encode("utf-8")), v.desc, tags,
                          v.author, stamp))
        if stmts.upsert_index is None:  # no upsert in this dialect: SQLAlchemy updates the index rows
            with self._lock, self.engine.begin() as conn:
                cursor = conn.connection.driver_connection.cursor()
                stmts.history.run(cursor, history)
                stmts.audit.run(cursor, audit)
                for r in records:
                    self._index(conn, r.key, r.value)
            return
        with self._lock:
            conn = self._connection()
            try:
                cursor = conn.cursor()
                stmts.history.run(cursor, history)
                stmts.audit.run(cursor, audit)
                stmts.upsert_index.run(cursor, index)
                cursor.close()
                conn.commit()
            except BaseException as e:
                self._after_failure(conn, e)
                raise

    def _connection(self):
        """This writer's own pooled connection, kept between transactions (no pool check-out per batch)."""
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        return self._conn

    def _after_failure(self, conn, error: BaseException) -> None:
        try:
            conn.rollback()
            if isinstance(error, self._integrity_errors):
                return  # the connection is fine: only this transaction was refused
        except Exception:  # noqa: BLE001 - the connection is broken: dropped below
            pass
        self._conn = None
        try:
            conn.invalidate()  # a fresh connection for the next transaction
        except Exception:  # noqa: BLE001
            pass

    def write_alone(self, record: Record) -> None:
        """Write one record in its own transaction, replacing an undecided row of the same version."""
        try:
            self.write([record])
        except self._integrity_errors:
            # A row with that version already exists but was never committed (a pending or aborted row
            # left by an interrupted write, maybe by another server): ZooKeeper holds OUR value for that
            # version, so it replaces the undecided row.
            with self._lock, self.engine.begin() as conn:
                conn.execute(sql.DELETE_UNDECIDED, {**sql.key_params(record.key), "version": record.value.version})
            self.write([record])
