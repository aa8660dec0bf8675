"""The ZooKeeper discovery client: registrations are EPHEMERAL znodes of this client's session.

::

    from shipway.discovery import Discovery

    with Discovery("127.0.0.1:2181") as d:
        with d.register("orders", "127.0.0.1", 8080, metadata={"version": "2"}):
            d.subscribe("payments", lambda insts: print(len(insts)))
            inst = d.choose("payments")

When the process dies its session expires (``session_timeout``, default 4 s) and the instance vanishes.
After a lost session the client re-creates its registrations; a node left by one of its own earlier
sessions is deleted first, one owned by another live session is waited out (no duplicates).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError
from kazoo.protocol.states import EventType

from shipway.discovery.base import DiscoveryBase, Key
from shipway.discovery.registration import Registration, _close_at_exit
from shipway.registry import layout, model, paths
from shipway.registry.model import DEFAULT_CLUSTER, Source
from shipway.registry.zkread import BATCH, watch_children

log = logging.getLogger(__name__)

#: Seconds between a change and its failover snapshot being written (changes meanwhile coalesce).
SNAPSHOT_DELAY = 0.5


class Discovery(DiscoveryBase):
    """Register, subscribe, choose — over ZooKeeper."""

    def __init__(self, hosts: str, *, namespace: str = model.DEFAULT_NAMESPACE, group: str = model.DEFAULT_GROUP,
                 session_timeout: float = 4.0, connect_timeout: float = 10.0, snapshot_dir: str | None = None) -> None:
        super().__init__(namespace=namespace, group=group, snapshot_dir=snapshot_dir)
        self.zk = KazooClient(hosts=hosts, timeout=session_timeout,
                              connection_retry=dict(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0),
                              command_retry=dict(max_tries=3, delay=0.1, backoff=2, max_delay=1.0))
        self._regs: dict[str, Registration] = {}
        self._regs_lock = threading.RLock()
        self._own_sessions: set[int] = set()
        self._session: int | None = None
        self._tasks: queue.Queue = queue.Queue()
        self._pending: set[tuple] = set()  # reads queued (events coalesce into one read)
        self._known: dict[Key, dict[str, dict]] = {}  # host znode name → instance, per watched service
        self._thresholds: dict[Key, float] = {}
        self._pending_lock = threading.Lock()
        self._read_lock = threading.RLock()
        self._closed = threading.Event()
        self._dirty: dict[Key, tuple[float, dict]] = {}  # snapshots to write: key → (first change, data)
        self._dirty_lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="discovery", daemon=True)
        self._worker.start()
        self.zk.add_listener(self._on_state)
        _close_at_exit(self)
        connected = self.zk.start_async()
        connected.wait(connect_timeout)
        if not self.zk.connected:
            log.warning("ZooKeeper at %s not reachable yet; serving snapshots and retrying", hosts)

    # -- registration ----------------------------------------------------------------------
    def register(self, service: str, ip: str, port: int, *, cluster: str = DEFAULT_CLUSTER, weight: float = 1.0,
                 metadata: dict | None = None, enabled: bool = True, healthy: bool = True,
                 group: str | None = None, namespace: str | None = None, wait: float = 10.0) -> Registration:
        """Register an ephemeral instance owned by this client's session; returns a :class:`Registration`.

        Blocks up to ``wait`` seconds for the znode to exist (0: return at once; it is created as soon as
        ZooKeeper is reachable).
        """
        key = self.key(service, group, namespace)
        inst = model.make_instance(*key, ip, port, cluster=cluster, weight=weight, metadata=metadata,
                                   ephemeral=True, healthy=healthy, enabled=enabled, source=Source.SDK)
        reg = Registration(self, key, inst)
        with self._regs_lock:
            old = self._regs.get(reg.path)
            if old is not None:
                old.active = False
            self._regs[reg.path] = reg
        done = False
        if self.zk.connected:  # the common case: create it right here, no hand-off
            try:
                done = self._ensure(reg)
            except KazooException:
                done = False
        if not done:
            self._tasks.put(("register", reg))
        if wait and not reg.registered.wait(wait):
            log.warning("registration of %s not confirmed within %.0f s; still trying", inst["instanceId"], wait)
        return reg

    def deregister(self, reg: Registration) -> None:
        """Remove a registration (idempotent)."""
        with self._regs_lock:
            reg.active = False
            if self._regs.get(reg.path) is reg:
                del self._regs[reg.path]
        if not self.zk.connected:
            log.info("deregister %s while disconnected: it goes when the session ends", reg.instance_id)
            return
        try:
            _, stat, names = layout.read(self.zk, reg.key, reg.instance_id)
            if stat.ephemeralOwner == self.zk.client_id[0]:
                layout.remove(self.zk, reg.key, reg.instance_id, version=stat.version, names=names)
        except (NoNodeError, BadVersionError):
            pass
        except KazooException as e:  # the session's end will remove it anyway
            log.warning("deregister %s: %s (it goes when the session ends)", reg.instance_id, type(e).__name__)

    def _push(self, reg: Registration) -> None:
        self._tasks.put(("register", reg))

    def _ensure(self, reg: Registration) -> bool:
        """Make the record and host znodes exist with our data, owned by our session. False: retry later."""
        if not reg.active or not self.zk.connected:
            return not reg.active
        me = self.zk.client_id[0]
        inst = dict(reg.instance)  # what this attempt writes (update() may change reg.instance meanwhile)
        try:
            layout.create(self.zk, reg.key, inst, ephemeral=True)
            reg.written = inst
            self._confirmed(reg, version=0)
            return True
        except NodeExistsError:
            pass
        try:
            current, stat, names = layout.read(self.zk, reg.key, reg.instance_id)
        except NoNodeError:
            return False
        if stat.ephemeralOwner == me:
            # Ours already: bring it up to date (an update(), or a change made through the server,
            # which is kept: see _merge_foreign).
            if self._merge_foreign(reg, current):
                inst = dict(reg.instance)
            version = stat.version
            if current != inst or names != [layout.encode(inst)]:
                try:
                    layout.replace(self.zk, reg.key, inst, version=stat.version, old_names=names,
                                   ephemeral=True)
                except (BadVersionError, NoNodeError):
                    return False
                version += 1
            reg.written = inst
            self._confirmed(reg, version)
            return True
        if stat.ephemeralOwner in self._own_sessions:
            # The race after expiry: our old session's nodes are still there. They are ours: replace them.
            try:
                layout.remove(self.zk, reg.key, reg.instance_id, version=stat.version, names=names)
            except (NoNodeError, BadVersionError):
                pass
            return False
        if not reg.waiting:
            reg.waiting = True  # say it once, not every retry
            holder = "a persistent registration" if not stat.ephemeralOwner else f"session {stat.ephemeralOwner:#x}"
            log.warning("%s is held by %s; waiting for it to go", reg.instance_id, holder)
        return False

    def _confirmed(self, reg: Registration, version: int) -> None:
        reg.registered.set()
        reg.waiting = False
        # Watch our own record: a change made through the server (console, PATCH) is adopted and
        # republished by us, so the host znode stays EPHEMERAL of this session. Not waited for; if
        # the record changed before the watch was set (its version is past ours), adopt at once.
        path = reg.path

        def armed(result) -> None:
            try:
                stat = result.get_nowait()
            except Exception:  # noqa: BLE001 - gone or disconnected: a new session re-registers
                return
            if stat is not None and stat.version != version and not self._closed.is_set():
                self._tasks.put(("adopt", path))

        self.zk.exists_async(path, watch=self._on_own_record).rawlink(armed)

    def _on_own_record(self, event) -> None:
        if event.type == EventType.CHANGED and not self._closed.is_set():
            self._tasks.put(("adopt", event.path))

    def _adopt(self, path: str) -> None:
        """Our record changed: if someone else changed it, keep their change and republish."""
        with self._regs_lock:
            reg = self._regs.get(path)
        if reg is None or not reg.active:
            return
        try:
            data, stat = self.zk.get(path, watch=self._on_own_record)
        except NoNodeError:
            return  # deregistered through the server: it stays so until this session is lost
        if stat.ephemeralOwner != self.zk.client_id[0]:
            return
        if self._merge_foreign(reg, layout.load(data)):
            self._push(reg)

    @staticmethod
    def _merge_foreign(reg: Registration, record: dict) -> bool:
        """Take into ``reg.instance`` the fields that someone else changed in our ``record``.

        A field differing from what we last wrote was changed through the server (console, PATCH):
        it wins. Our own writes (and local updates not written yet) are left alone.
        """
        written = reg.written
        if written is None:  # not written by this registration yet (a new register() call): ours wins
            return False
        changed = {k: record[k] for k in ("weight", "enabled", "healthy", "metadata")
                   if k in record and record[k] != written.get(k)}
        if not changed:
            return False
        reg.instance.update(changed)
        reg.written = {**written, **changed}
        return True

    # -- session handling (the listener must not block) --------------------------------------
    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._tasks.put(("connected", None))

    def _on_connected(self) -> None:
        session = self.zk.client_id[0] if self.zk.client_id else None
        if session is None:
            return
        new_session = session != self._session
        if self._session is not None:
            self._own_sessions.add(self._session)
        self._session = session
        if new_session:
            with self._regs_lock:
                regs = list(self._regs.values())
            for reg in regs:
                self._tasks.put(("register", reg))
        for key in self.keys():
            # A new session lost every watch: re-read everything. The same session got its watches back
            # (and the events it missed) from the server; a cheap re-read covers anything else.
            self._request(("full" if new_session else "children", key))

    # -- watches -----------------------------------------------------------------------------------
    def _watch(self, key: Key) -> None:
        self._request(("full", key))

    def _request(self, task: tuple) -> None:
        """Queue a read unless the same read is already queued (a burst of events → one read)."""
        with self._pending_lock:
            if task in self._pending:
                return
            self._pending.add(task)
        self._tasks.put(task)

    def _on_event(self, event) -> None:
        # kazoo's event thread. Like kazoo's own ChildrenWatch, the common case (connected, the
        # children of hosts/ changed) is read right here: one get_children, whose names carry the
        # instances, no hand-off to the worker. The service record goes through the worker.
        if event.type == EventType.NONE:
            return
        parts = event.path.split("/")
        base = paths.ROOT.count("/") + 1
        if len(parts) < base + 3:
            return
        key = (parts[base], parts[base + 1], parts[base + 2])
        if len(parts) == base + 4:
            if self.zk.connected and not self._closed.is_set() and key in self._known:
                try:
                    self._refresh(key, full=False)
                    return
                except Exception:  # noqa: BLE001 - never let a watcher die; the worker re-reads it all
                    log.exception("discovery watch of %s failed; re-reading it", key)
                    self._request(("full", key))
                    return
            self._request(("children", key))
        elif len(parts) == base + 3:
            self._request(("service", key))

    def _refresh(self, key: Key, full: bool) -> None:
        """Read the children of ``hosts/`` (and, when ``full``, the service record)."""
        with self._read_lock:  # the worker and kazoo's event thread both get here
            self._refresh_locked(key, full)

    def _refresh_locked(self, key: Key, full: bool) -> None:
        if not self.zk.connected:
            return  # re-read when connected again; keep the cache meanwhile
        base = paths.hosts(*key)
        try:
            threshold = self._read_threshold(key) if full or key not in self._thresholds else self._thresholds[key]
            names = watch_children(self.zk, base, self._on_event)
            known = {} if full else self._known.get(key, {})
            insts: dict[str, dict] = {}
            refs = []
            for name in names:
                inst = known.get(name)
                if inst is None:
                    inst = layout.decode(name, key)
                    if inst is None:
                        if layout.is_reference(name):
                            refs.append(name)
                        continue
                insts[name] = inst
            # Reference names (instances too large for a name): read their records. A change of such a
            # record changes its name, so no data watch is needed.
            for start in range(0, len(refs), BATCH):  # bounded pipelining (see registry.zkread.BATCH)
                batch = refs[start:start + BATCH]
                asyncs = [(n, self.zk.get_async(paths.instance(*key, layout.name_id(n, key)))) for n in batch]
                for name, a in asyncs:
                    try:
                        data, _ = a.get(timeout=10)
                        insts[name] = json.loads(data)
                    except (NoNodeError, ValueError):
                        continue
        except KazooException as e:
            log.info("discovery refresh of %s failed (%s); keeping the cached list", key, type(e).__name__)
            return
        self._known[key], self._thresholds[key] = insts, threshold
        self._publish(key, list(insts.values()), threshold, signature=frozenset(insts))

    def _read_threshold(self, key: Key) -> float:
        try:
            data, _ = self.zk.get(paths.service(*key), watch=self._on_event)
            return float(json.loads(data).get("protectThreshold") or 0.0) if data else 0.0
        except NoNodeError:
            self.zk.exists(paths.service(*key), watch=self._on_event)
            return 0.0
        except (ValueError, AttributeError):
            return 0.0

    def _refresh_service(self, key: Key) -> None:
        """The service record changed (protect threshold) or appeared: re-read it and the children."""
        if not self.zk.connected:
            return
        try:
            self._thresholds[key] = self._read_threshold(key)
        except KazooException:
            return
        self._refresh(key, full=False)

    def _snapshot(self, key: Key, data: dict) -> None:
        # Written by the worker, SNAPSHOT_DELAY after the first unsaved change: a burst of changes is
        # one write, and the thread that delivers changes (and the CPU right after a change, when
        # every subscriber process wakes at once) is not spent on JSON and the disk.
        with self._dirty_lock:
            first = self._dirty.get(key, (time.monotonic(), None))[0]
            self._dirty[key] = (first, data)

    def _flush_snapshots(self, everything: bool = False) -> None:
        now = time.monotonic()
        with self._dirty_lock:
            due = [(k, d) for k, (t, d) in self._dirty.items() if everything or now - t >= SNAPSHOT_DELAY]
            for k, _ in due:
                del self._dirty[k]
        for k, d in due:
            self.snapshots.save(*k, d)

    def _work(self) -> None:
        retry: list[tuple[float, tuple]] = []
        while not self._closed.is_set():
            try:
                task = self._tasks.get(timeout=0.2)
            except queue.Empty:
                task = None
            now = time.monotonic()
            due = [t for when, t in retry if when <= now]
            retry = [(when, t) for when, t in retry if when > now]
            if self._dirty:
                self._flush_snapshots()
            for t in ([task] if task else []) + due:
                try:
                    kind = t[0]
                    if kind in ("full", "children", "service"):
                        with self._pending_lock:
                            self._pending.discard(t)
                    if kind == "connected":
                        self._on_connected()
                    elif kind in ("full", "children"):
                        self._refresh(t[1], full=kind == "full")
                    elif kind == "service":
                        self._refresh_service(t[1])
                    elif kind == "adopt":
                        self._adopt(t[1])
                    elif kind == "register" and not self._ensure(t[1]):
                        retry.append((now + 0.25, t))
                except KazooException as e:
                    log.info("discovery task %s failed (%s); retrying", t[0], type(e).__name__)
                    retry.append((now + 0.5, t))
                except Exception:  # noqa: BLE001 - the worker must never die
                    log.exception("discovery task %s failed", t[0])

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Deregister everything and close the session (instances go at once, not after the timeout)."""
        if self._closed.is_set():
            return
        with self._regs_lock:
            regs = list(self._regs.values())
        for reg in regs:
            self.deregister(reg)
        self._closed.set()
        self._flush_snapshots(everything=True)
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> "Discovery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

