"""Kubernetes objects on ZooKeeper, with resourceVersions and an in-process watch stream.

Each object is one znode holding its JSON (``paths.object_path``). Its
``resourceVersion`` is the znode's ``mzxid`` — ZooKeeper's global, monotonic
transaction id of the last write — so versions order every change of every
object like etcd's revisions. Updates are compare-and-set on the znode
version, so two writers never lose each other's change (409 Conflict).

Watches: every write made through this store is appended to a bounded event
log (:class:`EventLog`); API watches and controllers read from it. The log
only sees writes made by this process (one API server, as in the embedded
setup); controllers also resync from ZooKeeper periodically, so nothing
depends on an event being seen.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any, Callable, Iterator

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from shipway.core.errors import Conflict, NotFound
from shipway.orchestrator import paths


class Gone(Exception):
    """The requested resourceVersion is older than the event log (HTTP 410)."""


class EventLog:
    """A bounded, ordered log of (rv, type, resource, object) with blocking reads.

    Events can be appended out of resourceVersion order: two writes finish in ZooKeeper as zxid 100 then
    101, but the thread that wrote 101 may append first. A reader that followed resourceVersions ("events
    after the last rv I delivered") would then skip 100 for good — and a watch missing a Deployment's last
    status change leaves ``kubectl rollout status`` waiting until its watch times out. So readers follow
    the *append order* (``seq``); a resourceVersion only chooses where a watch starts (every event with a
    greater rv that is already in the log, then everything appended afterwards).
    """

    def __init__(self, size: int = 4000) -> None:
        self.events: collections.deque = collections.deque(maxlen=size)  # (seq, rv, type, resource, obj)
        self.cond = threading.Condition()
        self.last_rv = 0
        self.seq = 0
        self.listeners: list[Callable[[str, str, dict], None]] = []

    def append(self, rv: int, etype: str, resource: str, obj: dict) -> None:
        with self.cond:
            self.last_rv = max(self.last_rv, rv)
            self.seq += 1
            self.events.append((self.seq, rv, etype, resource, obj))
            self.cond.notify_all()
        for fn in list(self.listeners):
            try:
                fn(etype, resource, obj)
            except Exception:  # noqa: BLE001 - a listener never breaks a write
                import logging
                logging.getLogger(__name__).exception("orchestrator event listener failed")

    def seen(self, rv: int) -> None:
        with self.cond:
            self.last_rv = max(self.last_rv, rv)

    def since(self, rv: int, resource: str, timeout: float, stop: threading.Event | None = None
              ) -> Iterator[tuple[int, str, dict]]:
        """Events of ``resource`` after ``rv``, waiting up to ``timeout`` s for new ones."""
        import time
        deadline = time.monotonic() + timeout
        with self.cond:
            if self.events and rv and self.events[0][1] > rv + 1 and len(self.events) == self.events.maxlen:
                raise Gone(f"too old resource version: {rv} ({self.events[0][1]})")
            first = [e for e in self.events if e[1] > rv]
            cursor = self.seq
        for _, erv, etype, res, obj in first:
            if res == resource:
                yield erv, etype, obj
        while True:
            with self.cond:
                if self.events and self.events[0][0] > cursor + 1:
                    # The reader fell behind a full log: it cannot know what it missed (410, as etcd).
                    raise Gone(f"too old resource version: {rv} (the watch fell behind)")
                batch = [e for e in self.events if e[0] > cursor]
                if not batch:
                    left = deadline - time.monotonic()
                    if left <= 0 or (stop and stop.is_set()):
                        return
                    self.cond.wait(min(left, 1.0))
                    continue
                cursor = batch[-1][0]
            for _, erv, etype, res, obj in batch:
                if res == resource:
                    yield erv, etype, obj


class ObjectStore:
    """CRUD of Kubernetes objects in ZooKeeper (no semantics: see :mod:`resources`)."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._client = client_factory
        self.log = EventLog()

    @property
    def zk(self):
        return self._client()

    @staticmethod
    def _load(data: bytes, stat) -> dict:
        obj = json.loads(data)
        obj["metadata"]["resourceVersion"] = str(stat.mzxid)
        return obj

    @staticmethod
    def _dump(obj: dict) -> bytes:
        body = dict(obj)
        body["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        return json.dumps(body, separators=(",", ":")).encode()

    def get(self, resource: str, namespace: str | None, name: str) -> dict:
        try:
            data, stat = self.zk.get(paths.object_path(resource, namespace, name))
        except (NoNodeError, ValueError):
            raise NotFound(f"{resource} {name!r} not found") from None
        return self._load(data, stat)

    def find(self, resource: str, namespace: str | None, name: str) -> dict | None:
        try:
            return self.get(resource, namespace, name)
        except NotFound:
            return None

    def list(self, resource: str, namespace: str | None = None, *, all_namespaces: bool = False) -> list[dict]:
        """Objects of ``resource`` (one namespace, or every one), sorted by namespace and name."""
        zk = self.zk
        if all_namespaces:
            try:
                namespaces = sorted(zk.get_children(paths.resource_dir(resource)))
            except NoNodeError:
                return []
        else:
            namespaces = [namespace or paths.CLUSTER_NS]
        out = []
        for ns in namespaces:
            base = paths.namespace_dir(resource, ns)
            try:
                names = sorted(zk.get_children(base))
            except NoNodeError:
                continue
            for n in names:
                try:
                    data, stat = zk.get(f"{base}/{n}")
                except NoNodeError:
                    continue
                self.log.seen(stat.mzxid)
                out.append(self._load(data, stat))
        return out

    def create(self, resource: str, obj: dict) -> dict:
        m = obj["metadata"]
        path = paths.object_path(resource, m.get("namespace"), m["name"])
        try:
            _, stat = self.zk.create(path, self._dump(obj), makepath=True, include_data=True)
        except NodeExistsError:
            raise Conflict(f"{resource} {m['name']!r} already exists", code="AlreadyExists") from None
        out = dict(obj, metadata=dict(m, resourceVersion=str(stat.mzxid)))
        self.log.append(stat.mzxid, "ADDED", resource, out)
        return out

    def update(self, resource: str, obj: dict, *, expect_rv: str | None) -> dict:
        """Replace ``obj``; with ``expect_rv`` the write fails with 409 unless it is the current version."""
        m = obj["metadata"]
        path = paths.object_path(resource, m.get("namespace"), m["name"])
        zk = self.zk
        try:
            _, stat = zk.get(path)
        except NoNodeError:
            raise NotFound(f"{resource} {m['name']!r} not found") from None
        if expect_rv and str(stat.mzxid) != str(expect_rv):
            raise _conflict(resource, m["name"])
        try:
            stat = zk.set(path, self._dump(obj), version=stat.version)
        except BadVersionError:
            raise _conflict(resource, m["name"]) from None
        except NoNodeError:
            raise NotFound(f"{resource} {m['name']!r} not found") from None
        out = dict(obj, metadata=dict(m, resourceVersion=str(stat.mzxid)))
        self.log.append(stat.mzxid, "MODIFIED", resource, out)
        return out

    def delete(self, resource: str, obj: dict) -> None:
        m = obj["metadata"]
        path = paths.object_path(resource, m.get("namespace"), m["name"])
        zk = self.zk
        try:
            zk.delete(path)
        except NoNodeError:
            raise NotFound(f"{resource} {m['name']!r} not found") from None
        # A delete has no zxid of its own in kazoo's answer: read the parent's pzxid.
        try:
            stat = zk.exists(paths.namespace_dir(resource, m.get("namespace")))
            rv = max(stat.pzxid if stat else 0, self.log.last_rv + 1)
        except Exception:  # noqa: BLE001
            rv = self.log.last_rv + 1
        out = dict(obj, metadata=dict(m, resourceVersion=str(rv)))
        self.log.append(rv, "DELETED", resource, out)


def _conflict(resource: str, name: str) -> Conflict:
    return Conflict(f"Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; "
                    "please apply your changes to the latest version and try again")
