"""Long-polling fan-out: many held requests, one ZooKeeper watch per config.

:class:`WatchHub` keeps, for every config some listener asked about, the current main and beta value
(kept fresh by one kazoo ``DataWatch`` on each znode, shared by every listener) and the set of waiting
listeners. A change wakes exactly the listeners whose effective MD5 (beta for matching clients) differs
from the MD5 they sent. A held request costs one small object and one ``Event`` (a greenlet under
``shipway serve``), not a ZooKeeper watch.

Also here: the Nacos ``Listening-Configs`` wire format.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from shipway.config_center.metrics import LONGPOLL_WAITING
from shipway.config_center.paths import Value, beta_path, config_path, decode
from shipway.core.errors import BadRequest, Unavailable

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (namespace, group, dataId)

WORD_SEP = "\x02"
LINE_SEP = "\x01"
MAX_KEYS = 3000  # Nacos clients send at most 3,000 keys per listener request
WAKE_BATCH = 20  # listeners woken between two yields of a fan-out (a GET waits for at most one batch)
MAX_WATCHED = 100_000  # distinct configs the hub watches (2 ZooKeeper watches each) before it refuses more


@dataclass(eq=False)
class Waiter:
    """One held request."""

    wanted: dict[Key, str]
    ip: str
    labels: dict[str, str] | None
    event: threading.Event = field(default_factory=threading.Event)
    changed: set[Key] = field(default_factory=set)


@dataclass(eq=False)
class Entry:
    main: Value | None = None
    beta: Value | None = None
    waiters: set[Waiter] = field(default_factory=set)
    ready: threading.Event = field(default_factory=threading.Event)
    watches: list[Any] = field(default_factory=list)
    failed: bool = False


def effective_md5(entry: Entry, ip: str, labels: dict[str, str] | None) -> str:
    """The MD5 a client sees: the beta's when it matches the client, else the main value's ('' if none)."""
    if entry.beta is not None and entry.beta.matches(ip, labels):
        return entry.beta.md5
    return entry.main.md5 if entry.main is not None else ""


class WatchHub:
    """Shared watches and waiting listeners (see the module doc)."""

    def __init__(self, kazoo: Callable[[], Any]) -> None:
        self._kazoo = kazoo
        self._entries: dict[Key, Entry] = {}
        self._lock = threading.Lock()

    def entry(self, key: Key, timeout: float = 10.0) -> Entry:
        """The entry of ``key``, starting its two DataWatches on first use."""
        with self._lock:
            entry = self._entries.get(key)
            creator = entry is None or entry.failed
            if entry is None and len(self._entries) >= MAX_WATCHED:
                raise Unavailable(f"this server already watches {MAX_WATCHED} configs; listen to fewer keys")
            if creator:
                entry = Entry()
                self._entries[key] = entry
        if creator:
            try:
                self._start_watches(key, entry)
            except Exception as e:  # noqa: BLE001 - ZooKeeper down: let the next caller retry
                entry.failed = True
                entry.ready.set()
                raise Unavailable(f"cannot watch config {'/'.join(key)}: {e.__class__.__name__}") from e
            entry.ready.set()
        elif not entry.ready.wait(timeout):
            raise Unavailable("ZooKeeper did not answer in time")
        if entry.failed:
            raise Unavailable(f"cannot watch config {'/'.join(key)}")
        return entry

    def _start_watches(self, key: Key, entry: Entry) -> None:
        from kazoo.recipe.watchers import DataWatch

        zk = self._kazoo()

        def on_main(data, _stat, _event=None):
            entry.main = decode(data)
            self._notify(key, entry)

        def on_beta(data, _stat, _event=None):
            entry.beta = decode(data)
            self._notify(key, entry)

        # DataWatch reads once synchronously, then re-arms after every event and after a new session.
        entry.watches.append(DataWatch(zk, config_path(*key), on_main))
        entry.watches.append(DataWatch(zk, beta_path(*key), on_beta))

    def _notify(self, key: Key, entry: Entry) -> None:
        with self._lock:
            waiters = list(entry.waiters)
        woken = 0
        for w in waiters:
            if effective_md5(entry, w.ip, w.labels) != w.wanted.get(key):
                w.changed.add(key)
                w.event.set()
                woken += 1
                if woken % WAKE_BATCH == 0:
                    # Under gevent this lets the woken batch answer and other requests (a config GET) run
                    # before the next batch, instead of queueing them behind a thousand answers.
                    time.sleep(0)

    def changed_now(self, wanted: dict[Key, str], ip: str = "", labels: dict[str, str] | None = None) -> list[Key]:
        """Keys whose effective MD5 differs from ``wanted`` right now."""
        return [k for k, md5 in wanted.items() if effective_md5(self.entry(k), ip, labels) != md5]

    def hold(self, wanted: dict[Key, str], *, ip: str = "", labels: dict[str, str] | None = None) -> "Hold":
        """Register a listener; ``hold.changed`` lists the keys that already differ. Release it when done."""
        entries = {k: self.entry(k) for k in wanted}
        waiter = Waiter(wanted=dict(wanted), ip=ip, labels=labels)
        with self._lock:
            for e in entries.values():
                e.waiters.add(waiter)
        # Registered before comparing, so a change between the two cannot be missed.
        changed = [k for k, e in entries.items() if effective_md5(e, ip, labels) != wanted[k]]
        return Hold(self, entries, waiter, changed)

    def poll(self, wanted: dict[Key, str], *, ip: str = "", labels: dict[str, str] | None = None,
             timeout: float = 30.0, hang: bool = True) -> list[Key]:
        """Answer at once with the keys that differ; else hold up to ``timeout`` seconds for a change."""
        hold = self.hold(wanted, ip=ip, labels=labels)
        try:
            if hold.changed or not hang or timeout <= 0:
                return hold.changed
            return hold.wait(timeout)
        finally:
            hold.release()

    def _release(self, entries: dict[Key, Entry], waiter: Waiter) -> None:
        with self._lock:
            for e in entries.values():
                e.waiters.discard(waiter)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"watched_configs": len(self._entries),
                    "waiting": len({id(w) for e in self._entries.values() for w in e.waiters})}


class Hold:
    """One registered listener (see :meth:`WatchHub.hold`)."""

    def __init__(self, hub: WatchHub, entries: dict[Key, Entry], waiter: Waiter, changed: list[Key]) -> None:
        self._hub, self._entries, self._waiter = hub, entries, waiter
        self.changed = changed
        self._released = False

    def wait(self, timeout: float) -> list[Key]:
        """Wait up to ``timeout`` seconds for a change; the keys that changed ([] on timeout)."""
        LONGPOLL_WAITING.inc()
        try:
            self._waiter.event.wait(timeout)
        finally:
            LONGPOLL_WAITING.dec()
        return [k for k in self._waiter.wanted if k in self._waiter.changed]

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._hub._release(self._entries, self._waiter)  # noqa: SLF001


class HeldAnswer:
    """The body of a held long-poll response, as a WSGI iterable: iterating it waits for the change.

    The view returns ``Response(HeldAnswer(...), direct_passthrough=True)`` right away, so Flask's
    whole request/response processing runs BEFORE the wait; when a publish wakes a thousand listeners,
    each one only renders its (cached) body and the server writes it: nothing else is left on the
    answer path. ``__len__`` tells the WSGI server (gevent's pywsgi) the body is one chunk, so it sends
    a ``Content-Length`` (it iterates again to count, which returns the same rendered chunk).
    """

    def __init__(self, hold: Hold, timeout: float, render: Callable[[list[Key]], bytes]) -> None:
        self._hold, self._timeout, self._render = hold, timeout, render
        self._body: bytes | None = None

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        if self._body is None:
            try:
                changed = self._hold.wait(self._timeout)
            finally:
                self._hold.release()
            self._body = self._render(changed)
        return iter((self._body,))

    def close(self) -> None:
        self._hold.release()


# -- the Nacos wire format -------------------------------------------------------------
@dataclass(frozen=True)
class NacosKey:
    data_id: str
    group: str
    md5: str
    tenant: str  # as the client sent it ('' = public)


def parse_listening_configs(text: str) -> list[NacosKey]:
    """Parse ``dataId^2group^2md5[^2tenant]^1…`` (^2 = \\x02, ^1 = \\x01)."""
    keys: list[NacosKey] = []
    for line in text.split(LINE_SEP):
        if not line:
            continue
        parts = line.split(WORD_SEP)
        if len(parts) not in (3, 4):
            raise BadRequest("invalid Listening-Configs: each key needs dataId, group, md5 and optionally "
                             "tenant, separated by \\x02 and ended by \\x01", field="Listening-Configs")
        keys.append(NacosKey(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else ""))
        if len(keys) > MAX_KEYS:
            raise BadRequest(f"at most {MAX_KEYS} keys per listener request", field="Listening-Configs")
    if not keys:
        raise BadRequest("Listening-Configs is empty", field="Listening-Configs")
    return keys


def format_changed(keys: list[NacosKey]) -> str:
    """The url-encoded answer: ``dataId^2group[^2tenant]^1`` per changed key."""
    return _format_changed(tuple((k.data_id, k.group, k.tenant) for k in keys))


@functools.lru_cache(maxsize=4096)
def _format_changed(keys: tuple[tuple[str, str, str], ...]) -> str:
    # Cached: a publish answers many listeners of the same key with the same bytes.
    out = []
    for data_id, group, tenant in keys:
        out.append(data_id + WORD_SEP + group + (WORD_SEP + tenant if tenant else "") + LINE_SEP)
    return urllib.parse.quote_plus("".join(out))
