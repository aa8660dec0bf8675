"""Bringing ZooKeeper and the SQL store back in line after a crash or a ZooKeeper outage.

* A ``pending`` history row is settled by looking at ZooKeeper: if the znode holds that version (or, for
  a deletion, the znode is gone and nothing newer exists) the row is ``committed``; otherwise it never
  became visible and is ``aborted``.
* Then, per config, the latest committed row wins: when ZooKeeper lags behind it (missing znode or an
  older version) the znode is rewritten from SQL; a config whose latest row is a deletion has its znode
  removed.

:class:`Reconciler` runs this at ``shipway serve`` start, after every new ZooKeeper session, and every
minute for rows left pending by a publish that failed while ZooKeeper was away.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from kazoo.exceptions import NoNodeError, NodeExistsError
from sqlalchemy import func, select

from shipway.config_center.models import ConfigAudit, ConfigHistory, Op, RowState
from shipway.config_center.paths import Value, config_path
from shipway.core.store import utcnow

log = logging.getLogger(__name__)


def _value_of(row: ConfigHistory) -> Value:
    return Value(content=row.content, md5=row.md5, version=row.version, type=row.type, author=row.author,
                 time=int(row.created_at.timestamp() * 1000) if row.created_at else 0, desc=row.description,
                 tags=tuple(t for t in row.tags.split(",") if t))


def settle_row(service, row_id: int, *, older_than: dt.datetime | None = None) -> str:
    """Decide one pending row from what ZooKeeper holds; returns the new state."""
    from shipway.config_center.service import apply_index

    with service.store.session() as s:
        row = s.get(ConfigHistory, row_id)
        if row is None or row.state != RowState.PENDING.value:
            return row.state if row else "missing"
        if older_than is not None and row.created_at and _aware(row.created_at) > older_than:
            return RowState.PENDING.value  # maybe still in flight in another request
        key = (row.namespace, row.group_name, row.data_id)
    current, _ = service.read(config_path(*key))  # raises Unavailable while ZooKeeper is down
    with service.store.session() as s:
        row = s.get(ConfigHistory, row_id)
        if row.op == Op.DELETED.value:
            newer = s.scalar(select(func.max(ConfigHistory.version)).where(
                ConfigHistory.namespace == key[0], ConfigHistory.group_name == key[1],
                ConfigHistory.data_id == key[2], ConfigHistory.version > row.version,
                ConfigHistory.state == RowState.COMMITTED.value))
            landed = current is None and newer is None
        else:
            landed = current is not None and current.version == row.version and current.md5 == row.md5
        row.state = (RowState.COMMITTED if landed else RowState.ABORTED).value
        if landed:
            apply_index(s, key, None if row.op == Op.DELETED.value else _value_of(row), version=row.version)
            s.add(ConfigAudit(actor=row.author, source_ip=row.source_ip, action="reconcile", namespace=key[0],
                              group_name=key[1], data_id=key[2], version=row.version,
                              detail=f"{row.op} found in ZooKeeper after an interrupted publish"))
        log.info("config %s version %s settled as %s", "/".join(key), row.version, row.state)
        return row.state


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def settle_landed(service, key: tuple[str, str, str], current: Value | None) -> int:
    """Commit the pending rows of ``key`` that ZooKeeper shows landed (same version and MD5): a publish
    whose answer was lost while its write went through. Safe at any time; returns how many."""
    if current is None:
        return 0
    with service.store.session() as s:
        ids = s.scalars(select(ConfigHistory.id).where(
            ConfigHistory.namespace == key[0], ConfigHistory.group_name == key[1], ConfigHistory.data_id == key[2],
            ConfigHistory.state == RowState.PENDING.value, ConfigHistory.version == current.version,
            ConfigHistory.md5 == current.md5)).all()
    for row_id in ids:
        settle_row(service, row_id)
    return len(ids)


def settle_pending(service, *, older_than: dt.datetime | None = None) -> int:
    with service.store.session() as s:
        ids = s.scalars(select(ConfigHistory.id).where(ConfigHistory.state == RowState.PENDING.value)
                        .order_by(ConfigHistory.id)).all()
    for row_id in ids:
        settle_row(service, row_id, older_than=older_than)
    return len(ids)


def repair_zookeeper(service) -> int:
    """Rewrite znodes that lag behind the latest committed version in SQL; returns how many."""
    from shipway.config_center.service import apply_index

    latest = (select(ConfigHistory.namespace, ConfigHistory.group_name, ConfigHistory.data_id,
                     func.max(ConfigHistory.version).label("v"))
              .where(ConfigHistory.state == RowState.COMMITTED.value)
              .group_by(ConfigHistory.namespace, ConfigHistory.group_name, ConfigHistory.data_id).subquery())
    with service.store.session() as s:
        rows = s.scalars(select(ConfigHistory).join(latest, (ConfigHistory.namespace == latest.c.namespace)
                                                    & (ConfigHistory.group_name == latest.c.group_name)
                                                    & (ConfigHistory.data_id == latest.c.data_id)
                                                    & (ConfigHistory.version == latest.c.v))).all()
    fixed = 0
    zk = service.zk
    for row in rows:
        key = (row.namespace, row.group_name, row.data_id)
        with service._lock(key):  # noqa: SLF001 - same per-config lock as publish
            service._written.pop(key, None)  # noqa: SLF001
            current, stat = service.read(config_path(*key))
            if current is not None and current.version >= row.version:
                continue
            if row.op == Op.DELETED.value:
                if current is not None:
                    zk.retry(zk.delete, config_path(*key), version=stat.version)
                    fixed += 1
                continue
            value = _value_of(row)
            try:
                if stat is None:
                    zk.retry(zk.create, config_path(*key), value.encode(), makepath=True)
                else:
                    zk.retry(zk.set, config_path(*key), value.encode(), version=stat.version)
            except (NodeExistsError, NoNodeError):
                continue  # changed meanwhile: the next pass looks again
            with service.store.session() as s:
                apply_index(s, key, value)
            log.warning("config %s: ZooKeeper had %s, restored version %s from the store", "/".join(key),
                        current.version if current else "nothing", row.version)
            fixed += 1
    return fixed


def reconcile(service) -> dict[str, int]:
    """Settle every pending row, then repair ZooKeeper from SQL."""
    settled = settle_pending(service)
    repaired = repair_zookeeper(service)
    return {"settled": settled, "repaired": repaired}


class Reconciler:
    """Component: reconcile at start, after each new ZooKeeper session, and settle stale pending rows."""

    def __init__(self, ctx, service, interval: float = 60.0) -> None:
        self.ctx = ctx
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            result = reconcile(self.service)
            if any(result.values()):
                log.warning("config center reconciled at start: %s", result)
        except Exception:  # noqa: BLE001 - ZooKeeper may be down; the periodic pass retries
            log.exception("config reconcile at start failed; retrying in the background")
        if self.ctx.zk is not None:
            self.ctx.zk.on_new_session(self._safe_reconcile)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="config-reconcile", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _safe_reconcile(self) -> None:
        try:
            reconcile(self.service)
        except Exception:  # noqa: BLE001
            log.exception("config reconcile failed")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                settle_pending(self.service, older_than=utcnow() - dt.timedelta(seconds=30))
            except Exception:  # noqa: BLE001 - keep going; ZooKeeper may be down
                log.debug("settling pending config rows failed", exc_info=True)
