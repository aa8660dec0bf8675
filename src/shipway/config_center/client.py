"""The config SDK: :class:`ConfigClient` — read configs and hot-reload them on change.

Two transports, one interface:

* **ZooKeeper** (``ConfigClient(zk="host:port[/chroot]")``): the client's own kazoo session watches the
  config znodes directly — a publish reaches the callback one ZooKeeper notification after it is written;
* **HTTP** (``ConfigClient(url="http://shipway:8470", token=...)``): long polling on
  ``POST /api/v1/configs/watch`` for apps that cannot reach ZooKeeper.

Guarantees of :meth:`ConfigClient.watch`: one dispatcher thread calls the callbacks, so each callback
gets each new value once and in order, never an older version after a newer one (values are compared by
version); an exception in a callback is logged and the watch goes on. Every value seen is written to the
on-disk snapshot; when the server is unreachable at start the client serves the snapshot (and logs so),
then catches up as soon as it is back. After a lost ZooKeeper session every watch is re-armed and re-read,
so a final update made while the client was away is never missed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any, Callable

from shipway.config_center.client_transport import HttpTransport, ZkTransport
from shipway.config_center.snapshot import Snapshot
from shipway.config_center.validate import DEFAULT_GROUP, DEFAULT_NAMESPACE, parse_properties
from shipway.config_center.value import ConfigValue, is_newer

log = logging.getLogger("shipway.config_center.client")

Callback = Callable[[ConfigValue], Any]
Key = tuple[str, str, str]


class _Sub:
    """One registered callback and the last value it got (so each gets each value once, never stale)."""

    __slots__ = ("callback", "last")

    def __init__(self, callback: Callback) -> None:
        self.callback = callback
        self.last: ConfigValue | None = None

__all__ = ["ConfigClient", "ConfigValue"]


class ConfigClient:
    """Config reads and hot reload (see the module doc).

    ``labels`` (dict) and ``client_ip`` select gray (beta) releases; ``snapshot_dir`` (default
    ``~/.shipway/config-snapshot``) keeps the last values on disk; ``connect_timeout`` is how long
    :meth:`start` waits for the server before serving the snapshot.
    """

    def __init__(self, zk: str | None = None, *, url: str | None = None, token: str | None = None,
                 namespace: str = DEFAULT_NAMESPACE, snapshot_dir: str | None = "~/.shipway/config-snapshot",
                 labels: dict[str, str] | None = None, client_ip: str | None = None,
                 connect_timeout: float = 5.0, poll_timeout: float = 30.0, session_timeout: float = 10.0) -> None:
        if bool(zk) == bool(url):
            raise ValueError("give exactly one of zk= (ZooKeeper hosts) or url= (shipway's HTTP API)")
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.snapshot = Snapshot(snapshot_dir)
        self.connect_timeout = connect_timeout
        self._values: dict[Key, ConfigValue] = {}
        self._callbacks: dict[Key, list[_Sub]] = {}
        self._lock = threading.RLock()
        self._queue: queue.Queue = queue.Queue()
        self._pending: set[Key] = set()
        self._stopped = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self.serving_snapshot = False
        if zk:
            self.transport = ZkTransport(zk, self, labels=self.labels, client_ip=client_ip,
                                         session_timeout=session_timeout)
        else:
            self.transport = HttpTransport(url, self, token=token, labels=self.labels, poll_timeout=poll_timeout)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "ConfigClient":
        """Connect (waiting up to ``connect_timeout``); if the server is away, serve the snapshot."""
        self._dispatcher = threading.Thread(target=self._dispatch, name="config-client", daemon=True)
        self._dispatcher.start()
        if not self.transport.start(self.connect_timeout):
            self.serving_snapshot = True
            log.warning("%s is unreachable: serving snapshot values from %s until it is back",
                        self.transport.describe(), self.snapshot.dir)
            if self.transport.connected():
                self.back_online()  # it connected just after the wait ended: do not stay in snapshot mode
        return self

    def close(self) -> None:
        self._stopped.set()
        self._queue.put(None)
        self.transport.stop()
        if self._dispatcher:
            self._dispatcher.join(5)

    def __enter__(self) -> "ConfigClient":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------
    def _key(self, data_id: str, group: str | None, namespace: str | None = None) -> Key:
        return (namespace or self.namespace, group or DEFAULT_GROUP, data_id)

    def get_value(self, data_id: str, group: str = DEFAULT_GROUP, *, namespace: str | None = None) -> ConfigValue | None:
        """The current value (a watched config answers from memory); the snapshot when the server is away."""
        key = self._key(data_id, group, namespace)
        with self._lock:
            if key in self._callbacks and key in self._values:
                return self._values[key]
        try:
            value = self.transport.fetch(key, watch=False)
        except Exception as e:  # noqa: BLE001 - unreachable: fall back to the snapshot
            snap = self.snapshot.load(key)
            log.warning("cannot read %s (%s): serving the snapshot value", "/".join(key), e.__class__.__name__)
            return ConfigValue.from_dict(snap) if snap else None
        if value is not None and value.content is not None:
            self.snapshot.save(key, value.to_dict())
        return value if value is None or value.content is not None else None

    def get(self, data_id: str, group: str = DEFAULT_GROUP, *, namespace: str | None = None) -> str | None:
        """The content, or ``None`` when the config does not exist."""
        v = self.get_value(data_id, group, namespace=namespace)
        return v.content if v else None

    def get_json(self, data_id: str, group: str = DEFAULT_GROUP, **kw: Any) -> Any:
        text = self.get(data_id, group, **kw)
        return None if text is None else json.loads(text)

    def get_yaml(self, data_id: str, group: str = DEFAULT_GROUP, **kw: Any) -> Any:
        import yaml
        text = self.get(data_id, group, **kw)
        return None if text is None else yaml.safe_load(text)

    def get_properties(self, data_id: str, group: str = DEFAULT_GROUP, **kw: Any) -> dict[str, str] | None:
        text = self.get(data_id, group, **kw)
        return None if text is None else parse_properties(text)

    # -- hot reload --------------------------------------------------------------
    def watch(self, data_id: str, group: str = DEFAULT_GROUP, callback: Callback | None = None, *,
              namespace: str | None = None, initial: bool = True) -> None:
        """Call ``callback(ConfigValue)`` for every new value of a config (``content`` None = deleted).

        With ``initial`` the current value (or the snapshot's) is delivered first.
        """
        if callback is None:
            raise ValueError("callback is required")
        key = self._key(data_id, group, namespace)
        sub = _Sub(callback)
        if not initial:
            sub.last = self.current(key)  # only values newer than the current one
        with self._lock:
            first = key not in self._callbacks
            self._callbacks.setdefault(key, []).append(sub)
            if first and self.serving_snapshot and key not in self._values:
                snap = self.snapshot.load(key)
                if snap:
                    self._values[key] = ConfigValue.from_dict(snap)
        if initial:
            self._queue.put(("initial", key, sub))
        if first:
            self.transport.watch_added(key)
            self.refresh(key)

    def unwatch(self, data_id: str, group: str = DEFAULT_GROUP, callback: Callback | None = None, *,
                namespace: str | None = None) -> None:
        key = self._key(data_id, group, namespace)
        with self._lock:
            subs = [s for s in self._callbacks.get(key, []) if s.callback != callback]
            if subs:
                self._callbacks[key] = subs
            else:
                self._callbacks.pop(key, None)

    # -- used by the transports --------------------------------------------------
    def watched(self) -> list[Key]:
        with self._lock:
            return list(self._callbacks)

    def current(self, key: Key) -> ConfigValue | None:
        with self._lock:
            return self._values.get(key)

    def refresh(self, key: Key) -> None:
        """Schedule a re-read of ``key`` on the dispatcher (cheap; safe from any thread)."""
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
        self._queue.put(("refresh", key))

    def refresh_all(self) -> None:
        for key in self.watched():
            self.refresh(key)

    def back_online(self) -> None:
        if self.serving_snapshot:
            self.serving_snapshot = False
            log.warning("%s is reachable again: catching up on every watched config", self.transport.describe())
        self.refresh_all()

    def flush(self, timeout: float) -> None:
        """Wait until the dispatcher has handled everything queued so far."""
        done = threading.Event()
        self._queue.put(("flush", done))
        done.wait(timeout)

    # -- the dispatcher ------------------------------------------------------------
    def _dispatch(self) -> None:
        while not self._stopped.is_set():
            job = self._queue.get()
            if job is None:
                return
            try:
                if job[0] == "flush":
                    job[1].set()
                elif job[0] == "initial":
                    _, key, sub = job
                    with self._lock:
                        value = self._values.get(key)
                    if value is not None and value.content is not None:
                        self._deliver(sub, value)
                else:
                    self._refresh_now(job[1])
            except Exception:  # noqa: BLE001 - the dispatcher must never die
                log.exception("config client dispatcher error")

    def _refresh_now(self, key: Key) -> None:
        with self._lock:
            self._pending.discard(key)
            if key not in self._callbacks:
                return
        try:
            value = self.transport.fetch(key, watch=True)
        except Exception as e:  # noqa: BLE001 - unreachable now; the transport refreshes when back
            log.debug("re-reading %s failed (%s); waiting for the server", "/".join(key), e)
            return
        with self._lock:
            old = self._values.get(key)
            if value is None:
                if old is None or old.content is None:
                    return
                value = old.deleted()
            if not is_newer(value, old):
                return
            self._values[key] = value
            callbacks = list(self._callbacks.get(key, []))
        if value.content is not None:
            self.snapshot.save(key, value.to_dict())
        for sub in callbacks:
            self._deliver(sub, value)

    @staticmethod
    def _deliver(sub: _Sub, value: ConfigValue) -> None:
        """Call one callback (dispatcher thread only) unless it already has this value or a newer one."""
        if not is_newer(value, sub.last):
            return
        sub.last = value
        try:
            sub.callback(value)
        except Exception:  # noqa: BLE001 - a bad callback must not stop the watch
            log.exception("config callback %r failed for %s/%s version %s", sub.callback, value.group,
                          value.data_id, value.version)
