"""Bringing ZooKeeper and the SQL store back in line after a crash or a ZooKeeper outage.

* A ``pending`` history row is settled by looking at ZooKeeper: if the znode holds that version (or, for
  a deletion, the znode is gone and nothing newer exists) the row is ``committed``; otherwise it never
  became visible and is ``aborted``.
* A version ZooKeeper holds that SQL has no row for (a crash between the ZooKeeper write and the SQL
  commit of a publish) is recorded from the znode, so every version a watcher may have seen is in the
  history.
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
from shipway.core import zkpaths
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
    """Make sure the version ZooKeeper holds for ``key`` is in the history: commit its pending row (a
    publish whose answer was lost while its write went through), or record it from the znode when SQL has
    no row for it (a crash, or a store error, between the ZooKeeper write and the SQL commit). Safe at
    any time; the caller holds the config's lock. Returns how many versions it recorded."""
    if current is None:
        return 0
    with service.store.session() as s:
        ids = s.scalars(select(ConfigHistory.id).where(
            ConfigHistory.namespace == key[0], ConfigHistory.group_name == key[1], ConfigHistory.data_id == key[2],
            ConfigHistory.state == RowState.PENDING.value, ConfigHistory.version == current.version,
            ConfigHistory.md5 == current.md5)).all()
    for row_id in ids:
        settle_row(service, row_id)
    if ids:
        return len(ids)
    return adopt_value(service, key, current)


def adopt_value(service, key: tuple[str, str, str], current: Value) -> int:
    """Record ``current`` (read from ZooKeeper) as a committed version unless SQL already has it or newer."""
    from shipway.config_center.service import apply_index

    where = (ConfigHistory.namespace == key[0], ConfigHistory.group_name == key[1],
             ConfigHistory.data_id == key[2])
    with service.store.session() as s:
        newest = s.scalar(select(func.max(ConfigHistory.version)).where(
            *where, ConfigHistory.state == RowState.COMMITTED.value)) or 0
        if newest >= current.version:
            return 0  # SQL has it (or ZooKeeper lags: repair_zookeeper's job)
        for row in s.scalars(select(ConfigHistory).where(*where, ConfigHistory.version == current.version)):
            s.delete(row)  # an undecided row of that version: ZooKeeper's value wins
        s.flush()
        s.add(ConfigHistory(namespace=key[0], group_name=key[1], data_id=key[2], version=current.version,
                            op=(Op.UPDATED if newest else Op.CREATED).value, state=RowState.COMMITTED.value,
                            content=current.content, md5=current.md5, type=current.type,
                            description=current.desc, tags=",".join(current.tags), author=current.author,
                            source_ip="", created_at=_time_of(current)))
        apply_index(s, key, current)
        s.add(ConfigAudit(actor=current.author, source_ip="", action="reconcile", namespace=key[0],
                          group_name=key[1], data_id=key[2], version=current.version,
                          detail="recorded from ZooKeeper after an interrupted publish"))
    service._sql_max.pop(key, None)  # noqa: SLF001 - the service's version cache
    log.warning("config %s version %s recorded from ZooKeeper (interrupted publish)", "/".join(key),
                current.version)
    return 1


def _time_of(v: Value) -> dt.datetime:
    return dt.datetime.fromtimestamp(v.time / 1000, dt.timezone.utc) if v.time else utcnow()


def zookeeper_keys(service) -> list[tuple[str, str, str]]:
    """Every config that has a znode (walks the three levels under the config root)."""
    zk = service.zk
    keys = []
    try:
        namespaces = zk.retry(zk.get_children, zkpaths.CONFIG)
    except NoNodeError:
        return []
    for ns in namespaces:
        for group in _children(zk, f"{zkpaths.CONFIG}/{ns}"):
            keys.extend((ns, group, d) for d in _children(zk, f"{zkpaths.CONFIG}/{ns}/{group}"))
    return keys


def _children(zk, path: str) -> list[str]:
    try:
        return zk.retry(zk.get_children, path)
    except NoNodeError:
        return []


def adopt_zookeeper(service, keys=None) -> int:
    """Record in SQL every version ZooKeeper holds that SQL lacks; returns how many."""
    adopted = 0
    for key in (zookeeper_keys(service) if keys is None else keys):
        with service._lock(key):  # noqa: SLF001 - same per-config lock as publish
            current, _ = service.read(config_path(*key))
            adopted += settle_landed(service, key, current)
            service._unsettled.discard(key)  # noqa: SLF001
    return adopted


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
    """Settle every pending row, record what ZooKeeper holds and SQL lacks, then repair ZooKeeper from SQL."""
    settled = settle_pending(service)
    adopted = adopt_zookeeper(service)
    repaired = repair_zookeeper(service)
    return {"settled": settled, "adopted": adopted, "repaired": repaired}


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
                adopt_zookeeper(self.service, list(self.service._unsettled))  # noqa: SLF001
            except Exception:  # noqa: BLE001 - keep going; ZooKeeper may be down
                log.debug("settling pending config rows failed", exc_info=True)
