"""The SDK's two transports: ZooKeeper watches and HTTP long polling (used by :class:`ConfigClient`)."""

from __future__ import annotations

import logging
import socket
import threading
import urllib.parse
from typing import Any

from shipway.config_center.paths import beta_path, config_path, decode
from shipway.config_center.value import ConfigValue
from shipway.core import zkpaths

log = logging.getLogger("shipway.config_center.client")

Key = tuple[str, str, str]


def _local_ip(host: str) -> str:
    """The local address used to reach ``host`` (what the server sees as our IP)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def _to_value(key: Key, main, beta, ip: str, labels: dict[str, str]) -> ConfigValue | None:
    chosen, is_beta = (beta, True) if beta is not None and beta.matches(ip, labels) else (main, False)
    if chosen is None:
        return None
    return ConfigValue(key[0], key[1], key[2], chosen.content, chosen.md5, chosen.version, chosen.type, is_beta)


class ZkTransport:
    """Watches the config znodes with the client's own kazoo session."""

    def __init__(self, hosts: str, owner, *, labels: dict[str, str], client_ip: str | None,
                 session_timeout: float) -> None:
        from shipway.core.zk import make_client

        self.hosts = hosts
        self.owner = owner
        self.labels = labels
        first = hosts.split(",")[0].split("/")[0].rsplit(":", 1)[0]
        self.ip = client_ip or _local_ip(first)
        self.client = make_client(hosts, timeout=session_timeout)
        self.client.add_listener(self._on_state)
        # Per watched config: the last main/beta values read with a watch armed, and which of the two a
        # watch event said changed. An event on the main znode re-reads only the main znode (one round
        # trip); the beta's watch is still armed. Any (re)connection forgets everything.
        self._lock = threading.Lock()
        self._known: dict[Key, list] = {}
        self._dirty: dict[Key, set[int]] = {}

    def describe(self) -> str:
        return f"ZooKeeper at {self.hosts}"

    def start(self, timeout: float) -> bool:
        event = self.client.start_async()
        event.wait(timeout)
        return self.client.connected

    def connected(self) -> bool:
        return self.client.connected

    def stop(self) -> None:
        try:
            self.client.stop()
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead client must not fail
            log.debug("error closing the config client's ZooKeeper session", exc_info=True)

    def _on_state(self, state: str) -> None:
        # Runs on kazoo's thread: only schedule work. After any (re)connection every watched config is
        # re-read, which re-arms its watches (lost with an expired session) and catches missed updates.
        if state == "CONNECTED":
            with self._lock:
                self._known.clear()
                self._dirty.clear()
            self.owner.back_online()

    def _on_event(self, event) -> None:
        # A lost session fires every watch with no path (EventType.NONE); the CONNECTED state
        # callback re-reads everything, so there is nothing to do here.
        if not event.path:
            return
        found = self._key_of(event.path)
        if found:
            key, which = found
            with self._lock:
                self._dirty.setdefault(key, set()).add(which)
            self.owner.refresh(key)

    @staticmethod
    def _key_of(path: str) -> tuple[Key, int] | None:
        """``(key, 0)`` for a main znode, ``(key, 1)`` for a beta znode."""
        for which, root in ((1, zkpaths.CONFIG_BETA + "/"), (0, zkpaths.CONFIG + "/")):
            if path.startswith(root):
                parts = path[len(root):].split("/")
                if len(parts) == 3:
                    return (parts[0], parts[1], parts[2]), which
        return None

    def _read(self, path: str, watch):
        from kazoo.exceptions import NoNodeError

        while True:
            try:
                data, _ = self.client.get(path, watch=watch)
                return decode(data)
            except NoNodeError:
                if self.client.exists(path, watch=watch) is None:
                    return None  # the exists-watch fires when it is created

    def watch_added(self, key: Key) -> None:
        pass

    def fetch(self, key: Key, *, watch: bool) -> ConfigValue | None:
        from kazoo.exceptions import NoNodeError

        if not self.client.connected:
            # kazoo would queue the reads until it reconnects: fail fast so get() serves the snapshot.
            raise ConnectionError(f"not connected to {self.describe()}")
        w = self._on_event if watch else None
        paths = (config_path(*key), beta_path(*key))
        with self._lock:
            known = self._known.get(key) if watch else None
            todo = sorted(self._dirty.pop(key, set())) if known is not None else [0, 1]
            values = list(known) if known is not None else [None, None]
        # The reads in flight at once: one round trip, not one per znode.
        pending = {i: self.client.get_async(paths[i], watch=w) for i in todo}
        missing = []
        for i, result in pending.items():
            try:
                values[i] = decode(result.get(timeout=30)[0])
            except NoNodeError:
                missing.append(i)
        for i in missing:  # arm an exists-watch (fires on creation); read again if it appeared meanwhile
            values[i] = self._read(paths[i], w)
        if watch:
            with self._lock:
                self._known[key] = values
        return _to_value(key, values[0], values[1], self.ip, self.labels)


class HttpTransport:
    """Long polls ``POST /api/v1/configs/watch`` and reads with ``GET /api/v1/configs/…``."""

    def __init__(self, url: str, owner, *, token: str | None, labels: dict[str, str], poll_timeout: float) -> None:
        import requests

        self.url = url.rstrip("/")
        self.owner = owner
        self.poll_timeout = poll_timeout
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        if labels:
            self.http.headers["X-Shipway-Labels"] = ",".join(f"{k}={v}" for k, v in labels.items())
        self._stop = threading.Event()
        self._down = False
        # Long polls run in "generations": a watch added while a poll is in flight starts a new poller
        # (after a short settle time that coalesces a burst of watch() calls); the old one ends when its
        # poll returns. So a new watch never waits a whole poll_timeout to be listened to.
        self._lock = threading.Lock()
        self._gen = 0
        self._inflight: set[Key] | None = None
        self._restart_pending = False

    def describe(self) -> str:
        return f"shipway at {self.url}"

    def start(self, timeout: float) -> bool:
        try:
            ok = self.http.get(self.url + "/healthz", timeout=timeout).status_code == 200
        except Exception:  # noqa: BLE001 - unreachable: serve the snapshot
            ok = False
        self._down = not ok
        self._spawn(0)
        return ok

    def _spawn(self, gen: int) -> None:
        threading.Thread(target=self._loop, args=(gen,), name=f"config-longpoll-{gen}", daemon=True).start()

    def connected(self) -> bool:
        return not self._down

    def stop(self) -> None:
        self._stop.set()
        self.http.close()

    def watch_added(self, key: Key) -> None:
        with self._lock:
            if self._inflight is None or key in self._inflight or self._restart_pending:
                return  # no poll in flight yet, or a new poller is about to start with every key
            self._restart_pending = True
            self._gen += 1
            gen = self._gen
        self._spawn(gen)

    def fetch(self, key: Key, *, watch: bool) -> ConfigValue | None:
        path = "/".join(urllib.parse.quote(p, safe="") for p in key)
        r = self.http.get(f"{self.url}/api/v1/configs/{path}", timeout=10)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        d: dict[str, Any] = r.json()
        return ConfigValue(key[0], key[1], key[2], d["content"], d["md5"], int(d["version"]), d.get("type", "text"),
                           bool(d.get("beta")))

    def _loop(self, gen: int) -> None:
        backoff = 0.2
        self._stop.wait(0.1)  # settle: let a burst of watch() calls land in the first poll
        while not self._stop.is_set() and gen == self._gen:
            keys = self.owner.watched()
            if not keys:
                self._stop.wait(0.1)
                continue
            with self._lock:
                if gen != self._gen:
                    return
                self._inflight = set(keys)
                self._restart_pending = False
            body = {"timeout": self.poll_timeout, "keys": []}
            for k in keys:
                cur = self.owner.current(k)
                body["keys"].append({"namespace": k[0], "group": k[1], "dataId": k[2],
                                     "md5": cur.md5 if cur is not None and cur.content is not None else ""})
            try:
                r = self.http.post(self.url + "/api/v1/configs/watch", json=body, timeout=self.poll_timeout + 10)
                r.raise_for_status()
                changed = r.json()["changed"]
            except Exception as e:  # noqa: BLE001 - keep polling with a back-off
                if self._stop.is_set():
                    return
                if not self._down:
                    log.warning("config long poll to %s failed (%s); retrying", self.url, e.__class__.__name__)
                    self._down = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            if self._down:
                self._down = False
                self.owner.back_online()
            for c in changed:
                self.owner.refresh((c["namespace"], c["group"], c["dataId"]))
            if changed:
                self.owner.flush(5.0)  # let the dispatcher take the new MD5s before polling again
