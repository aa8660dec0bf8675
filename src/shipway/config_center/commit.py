"""Batched publishes: concurrent publishes written to ZooKeeper in ONE ``multi``, and to SQL in ONE transaction.

A publish (``service.py``) makes two writes before its caller is answered: its new value to its znode (a
create, or a set guarded by the znode version read before), then its :class:`Record` — history, audit and
index rows — to SQL (:mod:`shipway.config_center.records`). Publishes of different configs that arrive
while a batch is on its way to ZooKeeper queue up, and the next batch takes all of them: their values as
one ``multi`` (one request, one reply and one trip through kazoo's connection loop instead of one each),
then their records in one transaction. Watchers see every value as before: ZooKeeper fires each znode's
watches when the transaction commits. A lone publish never waits for company.

**Two batches at a time.** As soon as a batch's ``multi`` is answered, the next batch may go to ZooKeeper
while this one goes to SQL. A second batch may also go while one is still at ZooKeeper, once
:data:`SECOND_BATCH_AT` publishes wait: ZooKeeper's reply takes 1–2 ms under load, and the publishes that
arrive meanwhile should not all wait for it, but a ``multi`` of one or two costs the server almost as much
as one of eight. Measured with 8 closed-loop clients (the workload of ``bench/config_publish_throughput.py``,
2026-11-24, before the SQL changes of ``records.py``): one batch at a time ~2,350 publishes/s; a second
batch from 4 waiting publishes ~2,550–2,650/s; from 2 ~2,400/s; any publish starting a batch of its own
~1,850/s (0.47 ms of server CPU per publish against 0.33).

Failures stay those of a single publish:

* a ``multi`` is all-or-nothing. When ZooKeeper refuses some of its writes (someone else changed that
  znode: a bad version; a create whose znode exists or whose parent is missing) it writes none of them,
  and each publish of the batch is written again alone, so only the refused one fails, with its own error;
* a lost connection says nothing about single writes (did it land?): every publish of the batch gets that
  error and records its version as undecided, as a single write would;
* if the SQL transaction fails, each record is written again alone, so one bad record (e.g. a version
  another server recorded meanwhile) fails only its own publish. Its value is in ZooKeeper already: the
  publish answers 503 and the record is made from the znode later (``reconcile.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from shipway.config_center.paths import Value
from shipway.config_center.records import Record, RecordWriter

log = logging.getLogger(__name__)

MAX_BATCH = 64
#: A ``multi`` carries at most this many bytes of values (ZooKeeper refuses a request over its 1 MiB
#: ``jute.maxbuffer``); a larger value is written alone, as a plain create or set.
MAX_BATCH_BYTES = 512 << 10
MAX_BATCHES_AT_ZOOKEEPER = 2
SECOND_BATCH_AT = 4  # publishes waiting before a second batch goes while one is at ZooKeeper (module doc)


@dataclass(eq=False)
class Publish:
    """The two writes of one publish. ``znode_version`` None creates the znode at ``path``, else sets it if it
    is still at that version. After :meth:`PublishBatches.write`, either ``new_version`` (the znode's) is set
    and both writes are done, or one error says which write failed: ``zk_error`` (nothing written, or — for a
    connection error — not known) or ``sql_error`` (the value is in ZooKeeper, the record is not in SQL)."""

    path: str
    znode_version: int | None
    record: Record
    new_version: int = -1
    zk_error: BaseException | None = None
    sql_error: BaseException | None = None
    recorded: bool = False  # both writes done
    done: threading.Event = field(default_factory=threading.Event)  # written, or: lead ``batch``
    batch: list[Publish] | None = None  # the batch this publish leads (it is its first)

    def fail(self, error: BaseException) -> None:
        """Give an unfinished publish ``error`` for the write it was at (what a leader interrupted leaves)."""
        if not self.recorded and self.zk_error is None and self.sql_error is None:
            if self.new_version < 0:
                self.zk_error = error
            else:
                self.sql_error = error

    def __post_init__(self) -> None:
        self.data = self.record.value.encode()


class BatchRefused(Exception):
    """ZooKeeper refused a ``multi`` because of some of its writes; each is written again alone."""


class PublishBatches:
    """Writes :class:`Publish` es of concurrent publishes in shared batches (see the module doc)."""

    def __init__(self, engine, index: Callable[[Any, Any, Value], None], kazoo: Callable[[], Any]) -> None:
        self.records = RecordWriter(engine, index)
        self._kazoo = kazoo
        self._lock = threading.Lock()
        self._queue: list[Publish] = []
        self._at_zookeeper = 0  # batches sent and not answered yet
        #: batches and publishes written (for tests and the docs' figures)
        self.batches = 0
        self.written = 0

    def write(self, publish: Publish) -> None:
        """Return once both writes of ``publish`` are done or one has failed (its error is on ``publish``)."""
        with self._lock:
            self._queue.append(publish)
            batch = self._take() if self._may_send() else None
        if batch is not None and batch[0] is not publish:
            self._hand(batch)  # a full batch left ``publish`` queued: the batch's first publish leads it
            batch = None
        if batch is None:
            publish.done.wait()
            if publish.batch is None:
                # written by the leader of its batch (or failed: then its error is on it)
                publish.fail(RuntimeError("the batch of this publish was interrupted"))
                return
            batch = publish.batch
        self._lead(batch)

    def _may_send(self) -> bool:
        """Whether the queue goes to ZooKeeper now (called with the lock held)."""
        return bool(self._queue) and (self._at_zookeeper == 0 or (
            self._at_zookeeper < MAX_BATCHES_AT_ZOOKEEPER and len(self._queue) >= SECOND_BATCH_AT))

    def _take(self) -> list[Publish]:
        """The next batch, off the queue and counted as at ZooKeeper (called with the lock held)."""
        n = _batch_size(self._queue)
        batch = self._queue[:n]
        del self._queue[:n]
        self._at_zookeeper += 1
        return batch

    @staticmethod
    def _hand(batch: list[Publish]) -> None:
        batch[0].batch = batch
        batch[0].done.set()

    def _lead(self, batch: list[Publish]) -> None:
        """Write ``batch`` (its first publish is the caller), then wake the others."""
        try:
            try:
                self._write_zk(batch)
            finally:
                with self._lock:
                    self._at_zookeeper -= 1
                    nxt = self._take() if self._may_send() else None
                if nxt is not None:
                    self._hand(nxt)
                    time.sleep(0)  # under gevent: let it send its batch before this one's SQL blocks the hub
            self._write_sql([p for p in batch if p.zk_error is None])
        except Exception as e:  # noqa: BLE001 - unexpected (a bug): each publish answers it, none is lost
            log.exception("writing a batch of %d publishes failed", len(batch))
            for p in batch:
                p.fail(e)
        finally:
            self.batches += 1
            self.written += len(batch)
            for p in batch[1:]:
                p.done.set()

    # -- ZooKeeper -------------------------------------------------------------------
    def _write_zk(self, batch: list[Publish]) -> None:
        if len(batch) > 1:
            try:
                self._zk_many(batch)
                return
            except BatchRefused as e:
                log.debug("ZooKeeper refused a batch of %d (%s); writing them alone", len(batch), e)
            except Exception as e:  # noqa: BLE001 - may have landed: each publish records it as undecided
                for p in batch:
                    p.zk_error = e
                return
        for p in batch:
            try:
                zk = self._kazoo()  # raises when there is no ZooKeeper client (503)
                if p.znode_version is None:
                    zk.create(p.path, p.data, makepath=True)
                    p.new_version = 0
                else:
                    p.new_version = zk.set(p.path, p.data, version=p.znode_version).version
            except Exception as e:  # noqa: BLE001 - the publish decides (retry, 409, undecided)
                p.zk_error = e

    def _zk_many(self, batch: list[Publish]) -> None:
        t = self._kazoo().transaction()
        for p in batch:
            if p.znode_version is None:
                t.create(p.path, p.data)
            else:
                t.set_data(p.path, p.data, version=p.znode_version)
        results = t.commit()
        refused = [r for r in results if isinstance(r, Exception)]
        if refused or len(results) != len(batch):
            raise BatchRefused(", ".join(sorted({type(r).__name__ for r in refused})) or "short answer")
        for p, r in zip(batch, results):
            p.new_version = 0 if p.znode_version is None else r.version

    # -- SQL -------------------------------------------------------------------------
    def _write_sql(self, batch: list[Publish]) -> None:
        if len(batch) > 1:
            try:
                self.records.write([p.record for p in batch])
                for p in batch:
                    p.recorded = True
                return
            except Exception:  # noqa: BLE001 - written again one by one: only a bad record fails
                log.debug("SQL batch of %d records failed; writing them alone", len(batch), exc_info=True)
        for p in batch:
            try:
                self.records.write_alone(p.record)
                p.recorded = True
            except Exception as e:  # noqa: BLE001 - the publish answers 503; the reconciler records it
                p.sql_error = e


def _batch_size(queue: list[Publish]) -> int:
    """How many queued publishes the next batch takes: at most :data:`MAX_BATCH`, and values of at most
    :data:`MAX_BATCH_BYTES` together (at least one)."""
    total = 0
    for i, p in enumerate(queue[:MAX_BATCH]):
        total += len(p.data)
        if total > MAX_BATCH_BYTES and i:
            return i
    return min(len(queue), MAX_BATCH)
