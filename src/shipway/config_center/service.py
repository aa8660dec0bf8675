"""The config service: publish, get, delete, rollback and gray release (``ctx.services["config"]``).

Publish protocol — a change is acknowledged only when it is durable in SQL:

1. the value, with the next version (``max(version in ZooKeeper, every SQL row of the config) + 1``), is
   written to ZooKeeper (create, or set with the znode version read before: a CAS that also serialises
   several shipway servers) — watchers get it from here;
2. its history row (``committed``), audit row and index update are written in ONE SQL transaction;
   only then is the caller answered. Both writes are shared with the publishes that run at the same time:
   one ZooKeeper ``multi`` and one SQL transaction per batch (:mod:`shipway.config_center.commit`).

A crash between 1 and 2 leaves a version in ZooKeeper that SQL lacks (never acknowledged): the
reconciler records it from the znode (its header carries content, author, time…) at the next start
(:mod:`shipway.config_center.reconcile`), so every version a watcher may have seen ends up in the
history. A ZooKeeper write that failed with a lost connection (did it land?) is recorded as a
``pending`` row that the next publish of that config, or the reconciler, settles from what ZooKeeper
holds. Deletions keep the two-step form (pending row, ZooKeeper delete, commit mark), so a delete that
reached ZooKeeper is never undone by a restore. Versions only grow and are never reused.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError

from shipway.config_center import history, sql, validate
from shipway.config_center.beta import BetaOps
from shipway.config_center.commit import Publish, PublishBatches
from shipway.config_center.namespaces import NamespaceOps
from shipway.config_center.metrics import CHANGES, PUBLISH_SECONDS
from shipway.config_center.models import ConfigAudit, ConfigItem, ConfigNamespace, Op, RowState
from shipway.config_center.paths import Value, beta_path, config_path, decode, md5_of
from shipway.config_center.records import Record
from shipway.core.errors import BadRequest, Conflict, NotFound, ShipwayError, Unavailable
from shipway.core.store import Store, utcnow

log = logging.getLogger(__name__)


def zk_errors() -> tuple[type[BaseException], ...]:
    """The errors of a ZooKeeper call that did not get an answer (or a refusal) from ZooKeeper."""
    return _ZK_ERRORS


def _zk_errors() -> tuple[type[BaseException], ...]:
    from kazoo.handlers.threading import KazooTimeoutError
    return (KazooException, KazooTimeoutError)


_ZK_ERRORS = _zk_errors()


class ConfigService(history.HistoryQueries, NamespaceOps, BetaOps):
    """Config operations on ZooKeeper (current values) and the SQL store (history, audit).

    ``kazoo`` is a callable returning the connected kazoo client (resolved lazily so that building the
    app needs no ZooKeeper).
    """

    def __init__(self, store: Store, kazoo: Callable[[], Any]) -> None:
        self.store = store
        self._kazoo = kazoo
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._known_namespaces: set[str] = {validate.DEFAULT_NAMESPACE}
        self._roles: dict[str, tuple[float, str]] = {}
        self._unsettled: set[tuple[str, str, str]] = set()  # keys with a row left pending by a failed write
        self._roles_lock = threading.Lock()
        #: key -> (value, znode version) of this server's last successful write (saves a read per publish).
        self._written: dict[tuple[str, str, str], tuple[Value, int]] = {}
        #: key -> highest version of any SQL row of that config (saves a query per publish).
        self._sql_max: dict[tuple[str, str, str], int] = {}
        self.commits = PublishBatches(store.engine, index_core, kazoo)
        self._ok_counters: dict[str, Any] = {}  # action -> CHANGES child (labels() looked up once)

    # -- helpers ---------------------------------------------------------------
    @property
    def zk(self):
        return self._kazoo()

    def _lock(self, key: tuple[str, str, str]) -> threading.Lock:
        lock = self._locks.get(key)  # a dict read is atomic; a new lock only on a config's first publish
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(key, threading.Lock())
        return lock

    @staticmethod
    def key(namespace: str, group: str, data_id: str) -> tuple[str, str, str]:
        """Validated ``(namespace, group, dataId)``; a 400 names the bad field."""
        return (validate.check_name(namespace or validate.DEFAULT_NAMESPACE, "namespace"),
                validate.check_name(group or validate.DEFAULT_GROUP, "group"),
                validate.check_name(data_id, "dataId"))

    def read(self, path: str) -> tuple[Value | None, Any]:
        """``(value, stat)`` of a znode, ``(None, None)`` when missing; 503 when ZooKeeper is down."""
        zk = self.zk
        try:
            data, stat = zk.retry(zk.get, path)
        except NoNodeError:
            return None, None
        except zk_errors() as e:
            raise Unavailable(f"ZooKeeper is not reachable: {e.__class__.__name__}") from e
        return decode(data), stat

    @staticmethod
    def to_dict(key: tuple[str, str, str], v: Value, *, beta: bool = False) -> dict[str, Any]:
        ns, group, data_id = key
        d = {"namespace": ns, "group": group, "dataId": data_id, "content": v.content, "md5": v.md5,
             "type": v.type, "version": v.version, "author": v.author,
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v.time / 1000)) if v.time else None,
             "desc": v.desc, "tags": list(v.tags)}
        if beta:
            d.update(beta=True, ips=list(v.ips), labels=dict(v.labels))
        return d

    # -- reads -------------------------------------------------------------------
    def get(self, namespace: str, group: str, data_id: str) -> dict[str, Any]:
        """The current value: ``{namespace, group, dataId, content, md5, type, version, author, time, desc,
        tags}``; :class:`NotFound` when it does not exist."""
        key = self.key(namespace, group, data_id)
        value, _ = self.read(config_path(*key))
        if value is None:
            raise NotFound(f"config {'/'.join(key)} does not exist",
                           details={"namespace": key[0], "group": key[1], "dataId": key[2]})
        return self.to_dict(key, value)

    def get_for_client(self, namespace: str, group: str, data_id: str, *, ip: str = "",
                       labels: dict[str, str] | None = None) -> dict[str, Any]:
        """What a client with ``ip``/``labels`` sees: the beta when it matches, else the current value."""
        key = self.key(namespace, group, data_id)
        beta, _ = self.read(beta_path(*key))
        if beta is not None and beta.matches(ip, labels):
            return self.to_dict(key, beta, beta=True)
        return self.get(*key)

    # -- writes ------------------------------------------------------------------
    def publish(self, namespace: str, group: str, data_id: str, content: str, type: str = "text", *,
                author: str, source_ip: str = "", cas_md5: str | None = None, desc: str | None = None,
                tags: Any = None, action: str = "publish") -> dict[str, Any]:
        """Create or update a config; returns the new value (as :meth:`get`) plus ``op``.

        Raises 400 (bad names/content, with line:column), 413 (too large), 409 (``cas_md5`` is not the
        current MD5; an empty string means "must not exist yet"), 503 (ZooKeeper down: not acknowledged).
        """
        t0 = time.perf_counter()
        try:
            result = self._publish(namespace, group, data_id, content, type, author=author, source_ip=source_ip,
                                   cas_md5=cas_md5, desc=desc, tags=tags, action=action)
        except ShipwayError as e:
            CHANGES.labels(action, e.code).inc()
            raise
        ok = self._ok_counters.get(action)
        if ok is None:
            ok = self._ok_counters[action] = CHANGES.labels(action, "ok")
        ok.inc()
        PUBLISH_SECONDS.observe(time.perf_counter() - t0)
        return result

    def _publish(self, namespace: str, group: str, data_id: str, content: str, type: str, *, author: str,
                 source_ip: str, cas_md5: str | None, desc: str | None, tags: Any, action: str) -> dict[str, Any]:
        key = self.key(namespace, group, data_id)
        type_ = validate.check_type(type)
        validate.check_content(content, type_)
        path = config_path(*key)
        with self._lock(key):
            for attempt in range(5):
                # A CAS is always checked against a fresh read, never against the cache.
                cached = self._written.pop(key, None) if attempt == 0 and cas_md5 is None else None
                if cached is not None:
                    # What this server wrote last; the znode-version check below catches anyone else's change.
                    current, znode_version = cached
                else:
                    current, stat = self.read(path)
                    znode_version = stat.version if stat is not None else None
                    if key in self._unsettled:
                        self._settle_landed(key, current)
                self._check_cas(key, current, cas_md5)
                d, t = (current.desc, list(current.tags)) if current else ("", [])
                desc_, tags_ = validate.check_meta(d if desc is None else desc, t if tags is None else tags)
                op = Op.UPDATED if current else Op.CREATED
                self._namespace_exists(key[0])
                version = max(current.version if current else 0, self._max_version(key)) + 1
                value = Value(content=content, md5=md5_of(content), version=version, type=type_, author=author,
                              time=int(time.time() * 1000), desc=desc_, tags=tuple(tags_))
                # ZooKeeper (watchers see it from here), then SQL; batched with concurrent publishes
                p = Publish(path, znode_version, Record(key, op.value, value, author, source_ip, action))
                self.commits.write(p)
                if isinstance(p.zk_error, (NodeExistsError, BadVersionError, NoNodeError)):
                    # Changed by someone else since we read it (or since our cached write): nothing was
                    # written. Re-read and try again (a CAS against a value we really read is a conflict).
                    self._sql_max.pop(key, None)
                    if cas_md5 is not None and cached is None:
                        raise Conflict("config changed concurrently; read it again and retry",
                                       details={"casMd5": cas_md5}) from None
                    continue
                if isinstance(p.zk_error, zk_errors()):
                    # Did it land? Unknown: keep a pending row that is settled from ZooKeeper later.
                    row_id, version = self._begin(key, op, content, type_, desc_, tags_, author, source_ip,
                                                  floor=version - 1)
                    self._settle_after_failure(key, row_id, version)
                    raise Unavailable(f"ZooKeeper is not reachable; version {version} was not published: "
                                      f"{p.zk_error.__class__.__name__}") from p.zk_error
                if p.zk_error is not None:
                    raise p.zk_error
                if p.sql_error is not None or not p.recorded:
                    self._sql_max.pop(key, None)
                    self._unsettled.add(key)  # the next publish (or the reconciler) records it from ZooKeeper
                    log.error("config %s version %s is in ZooKeeper but not recorded yet", "/".join(key), version,
                              exc_info=p.sql_error)
                    raise Unavailable(f"the store did not record version {version}; it is recorded from "
                                      "ZooKeeper by the next publish or the reconciler") from p.sql_error
                self._sql_max[key] = version
                self._written[key] = (value, p.new_version)
                return {**self.to_dict(key, value), "op": op.value}
        raise Conflict("config kept changing concurrently; retry")

    def _max_version(self, key) -> int:
        """Highest version of any SQL row of ``key`` (cached; every insert by this server updates it)."""
        v = self._sql_max.get(key)
        if v is None:
            with self.store.engine.connect() as conn:
                v = conn.execute(sql.MAX_VERSION, sql.key_params(key)).scalar() or 0
            self._sql_max[key] = v
        return v

    def delete(self, namespace: str, group: str, data_id: str, *, author: str, source_ip: str = "",
               cas_md5: str | None = None) -> dict[str, Any]:
        """Delete a config (recorded as a ``deleted`` version); :class:`NotFound` if it does not exist."""
        key = self.key(namespace, group, data_id)
        with self._lock(key):
            self._written.pop(key, None)
            current, stat = self.read(config_path(*key))
            if current is None:
                raise NotFound(f"config {'/'.join(key)} does not exist")
            self._check_cas(key, current, cas_md5)
            row_id, version = self._begin(key, Op.DELETED, "", current.type, current.desc, list(current.tags),
                                          author, source_ip, floor=current.version)
            zk = self.zk
            try:
                zk.delete(config_path(*key), version=stat.version)
            except (NoNodeError, BadVersionError):
                self._finish(row_id, RowState.ABORTED)
                raise Conflict("config changed concurrently; read it again and retry") from None
            except zk_errors() as e:
                self._settle_after_failure(key, row_id, version)
                raise Unavailable(f"ZooKeeper is not reachable; not deleted: {e.__class__.__name__}") from e
            self._finish(row_id, RowState.COMMITTED, key=key, value=None, action="delete", author=author,
                         source_ip=source_ip, version=version)
            return {"namespace": key[0], "group": key[1], "dataId": key[2], "version": version, "op": "deleted"}

    def rollback(self, namespace: str, group: str, data_id: str, version: int, *, author: str,
                 source_ip: str = "") -> dict[str, Any]:
        """Publish the content of an earlier version as a new version."""
        old = self.version(namespace, group, data_id, version)
        if old["op"] == Op.DELETED.value:
            raise BadRequest(f"version {version} is a deletion; pick a version with content", field="version")
        return self.publish(namespace, group, data_id, old["content"], old["type"], author=author,
                            source_ip=source_ip, desc=old["desc"], tags=old["tags"], action="rollback")

    @staticmethod
    def _check_cas(key, current: Value | None, cas_md5: str | None) -> None:
        if cas_md5 is None:
            return
        have = current.md5 if current else ""
        if have != cas_md5:
            raise Conflict(f"config {'/'.join(key)} has MD5 {have or '(none)'}, not {cas_md5}: "
                           "it was changed by someone else; read it again",
                           details={"casMd5": cas_md5, "md5": have})

    # -- pending rows (deletions, interrupted writes) -------------------------------
    def _begin(self, key, op: Op, content: str, type_: str, desc: str, tags: list[str], author: str,
               source_ip: str, floor: int = 0) -> tuple[int, int]:
        """Commit a pending row with the next version (above every row and above ``floor``, the version
        ZooKeeper holds); returns ``(row id, version)``. Used by deletions (step 1 of their two-step form)
        and to record a publish whose ZooKeeper write may or may not have landed.

        SQLAlchemy Core, not the ORM: this is the hot path of every publish.
        """
        ns, group, data_id = key
        self._namespace_exists(ns)
        with self.store.engine.begin() as conn:
            last = conn.execute(sql.MAX_VERSION, sql.key_params(key)).scalar() or 0
            last = max(last, floor)
            result = conn.execute(sql.INSERT_HISTORY, {
                "namespace": ns, "group_name": group, "data_id": data_id, "version": last + 1, "op": op.value,
                "state": RowState.PENDING.value, "content": content, "md5": md5_of(content) if content else "",
                "type": type_, "description": desc, "tags": ",".join(tags), "author": author,
                "source_ip": source_ip, "created_at": utcnow()})
        self._sql_max[key] = last + 1
        return result.inserted_primary_key[0], last + 1

    def _finish(self, row_id: int, state: RowState, *, key=None, value: Value | None = None, action: str = "",
                author: str = "", source_ip: str = "", version: int = 0) -> None:
        """Decide a pending row; for a commit also update the index and the audit log (one transaction)."""
        with self.store.engine.begin() as conn:
            conn.execute(sql.MARK_ROW, {"row_id": row_id, "new_state": state.value})
            if state is RowState.COMMITTED:
                index_core(conn, key, value)
                conn.execute(sql.INSERT_AUDIT, {
                    "at": utcnow(), "actor": author, "source_ip": source_ip, "action": action, "namespace": key[0],
                    "group_name": key[1], "data_id": key[2], "version": value.version if value else version,
                    "detail": f"md5={value.md5}" if value else "deleted"})

    def _settle_after_failure(self, key, row_id: int, version: int) -> None:
        """After a failed ZooKeeper write, decide the pending row if ZooKeeper can tell; else leave it
        pending: the next publish of that config commits it if it landed, the reconciler decides the rest."""
        try:
            from shipway.config_center.reconcile import settle_row
            settle_row(self, row_id)
        except (ShipwayError, *zk_errors()):
            self._unsettled.add(key)
            log.warning("config %s version %s left pending until ZooKeeper returns", "/".join(key), version)

    def _settle_landed(self, key, current: Value | None) -> None:
        from shipway.config_center.reconcile import settle_landed
        try:
            settle_landed(self, key, current)
            self._unsettled.discard(key)
        except (ShipwayError, *zk_errors()):
            log.debug("settling %s deferred", "/".join(key), exc_info=True)

    def _namespace_exists(self, ns: str) -> None:
        """Create the namespace on its first publish (once per server; cached)."""
        if ns not in self._known_namespaces:
            with self.store.session() as s:
                self._ensure_namespace(s, ns)
            self._known_namespaces.add(ns)

    @staticmethod
    def _ensure_namespace(s, ns: str) -> None:
        if ns != validate.DEFAULT_NAMESPACE and s.get(ConfigNamespace, ns) is None:
            s.add(ConfigNamespace(name=ns, display_name=ns, description="created by the first publish"))

    def _audit(self, key, action: str, author: str, source_ip: str, version: int, detail: str) -> None:
        with self.store.session() as s:
            s.add(ConfigAudit(actor=author, source_ip=source_ip, action=action, namespace=key[0],
                              group_name=key[1], data_id=key[2], version=version, detail=detail[:2000]))


def apply_index(s, key, value: Value | None, *, version: int = 0) -> None:
    """Update the current-state index row of ``key`` (``value`` None = deleted)."""
    ns, group, data_id = key
    item = s.get(ConfigItem, (ns, group, data_id))
    if value is None:
        if item is not None:
            s.delete(item)
        return
    if item is not None and item.version > value.version:
        return  # never move the index backwards
    if item is None:
        item = ConfigItem(namespace=ns, group_name=group, data_id=data_id)
        s.add(item)
    item.version, item.md5, item.type = value.version, value.md5, value.type
    item.size = len(value.content.encode("utf-8"))
    item.description, item.tags, item.author = value.desc, ",".join(value.tags), value.author
    item.updated_at = utcnow()


def index_core(conn, key, value: Value | None) -> None:
    """:func:`apply_index` in SQLAlchemy Core, inside the caller's transaction."""
    keyp = sql.key_params(key)
    if value is None:
        conn.execute(sql.DELETE_INDEX, keyp)
        return
    fields = {"version": value.version, "md5": value.md5, "type": value.type,
              "size": len(value.content.encode("utf-8")), "description": value.desc, "tags": ",".join(value.tags),
              "author": value.author, "updated_at": utcnow()}
    # never move the index backwards
    if conn.execute(sql.UPDATE_INDEX, {**keyp, **{f"v_{k}": v for k, v in fields.items()}}).rowcount:
        return
    if conn.execute(sql.INDEX_VERSION, keyp).first() is None:
        conn.execute(sql.INSERT_INDEX, {"namespace": key[0], "group_name": key[1], "data_id": key[2], **fields})
