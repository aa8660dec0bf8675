"""The server's ZooKeeper connection.

:class:`ZkConnection` wraps one :class:`kazoo.client.KazooClient` that retries
for ever, tracks the session state for ``/readyz`` and lets parts register
callbacks run after the session was lost and a new one established (to
recreate ephemeral znodes and re-arm watches). Listeners never block: kazoo
calls them on its event thread, so work is handed off to a new thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from shipway.core import zk_gevent, zkpaths
from shipway.core.errors import Unavailable

log = logging.getLogger(__name__)


def make_client(hosts: str, *, timeout: float = 6.0, read_only: bool = False) -> KazooClient:
    """A kazoo client that retries connecting for ever with a capped back-off."""
    retry = dict(max_tries=-1, delay=0.1, backoff=2, max_delay=2.0)
    return KazooClient(hosts=hosts, timeout=timeout, connection_retry=retry,
                       command_retry=dict(max_tries=5, delay=0.1, backoff=2, max_delay=2.0),
                       read_only=read_only, handler=zk_gevent.handler())


class ZkConnection:
    """The process-wide ZooKeeper session with state tracking.

    ``on_new_session`` callbacks run (in a worker thread) every time a session
    is established after a lost one, so ephemeral registrations can be
    recreated (like kazoo's ``Party`` recipe).
    """

    def __init__(self, hosts: str, *, timeout: float = 6.0) -> None:
        self.hosts = hosts
        self.client = make_client(hosts, timeout=timeout)
        self.retry = KazooRetry(max_tries=10, delay=0.1, backoff=2, max_delay=2.0)
        self.state = KazooState.LOST
        self._lost_since_connect = False
        self._session_callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.client.add_listener(self._on_state)

    # -- lifecycle -----------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        """Connect; raise :class:`Unavailable` if no session within ``timeout``."""
        try:
            self.client.start(timeout=timeout)
        except KazooTimeoutError as e:
            # Keep trying in the background: kazoo retries for ever once started.
            self.client.start_async()
            raise Unavailable(f"ZooKeeper at {self.hosts} did not answer within {timeout:.0f} s",
                              details={"zk": self.hosts}) from e
        for path in zkpaths.ROOTS:
            self.client.ensure_path(path)

    def stop(self) -> None:
        try:
            self.client.stop()
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection must not fail shutdown
            log.debug("error while closing ZooKeeper client", exc_info=True)

    @property
    def connected(self) -> bool:
        return self.client.connected and self.state == KazooState.CONNECTED

    def on_new_session(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every re-established session (lost → connected)."""
        with self._lock:
            self._session_callbacks.append(callback)

    # -- state listener (must not block) --------------------------------
    def _on_state(self, state: str) -> None:
        previous, self.state = self.state, state
        if state == KazooState.LOST:
            self._lost_since_connect = True
            log.warning("ZooKeeper session lost (%s)", self.hosts)
        elif state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection suspended (%s)", self.hosts)
        elif state == KazooState.CONNECTED:
            if previous != KazooState.CONNECTED:
                log.info("ZooKeeper connected (%s)", self.hosts)
            if self._lost_since_connect:
                self._lost_since_connect = False
                threading.Thread(target=self._run_session_callbacks, name="zk-new-session",
                                 daemon=True).start()

    def _run_session_callbacks(self) -> None:
        with self._lock:
            callbacks = list(self._session_callbacks)
        for cb in callbacks:
            try:
                cb()
            except Exception:  # noqa: BLE001 - one bad callback must not stop the others
                log.exception("new-session callback %r failed", cb)
