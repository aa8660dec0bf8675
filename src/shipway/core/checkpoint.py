"""WAL checkpoints of the SQLite store, off the request path (a component of ``shipway serve``).

In WAL mode SQLite copies the log back into the database file — a checkpoint, with two fsyncs — inside the
commit that takes the log past 1,000 pages. Under ``shipway serve`` (gevent) SQL runs in the event loop's
thread, so such a commit held up every request for ~3.5 ms, about four times a second under a publish load
(measured 2026-11-24 on bench/config_publish_throughput.py: 60 of 6,000 batch transactions, 22 % of their
time and 2.5 % of the server's). :class:`WalCheckpointer` runs them in a native thread of its own every
:data:`INTERVAL` seconds, ``PASSIVE`` (it never waits for a reader or a writer), and while it runs the
store's connections checkpoint by themselves only past :data:`SAFETY_PAGES` — a bound on the log should the
thread fall behind. Nothing is lost either way: a checkpoint only moves committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

INTERVAL = 0.5
SAFETY_PAGES = 10_000  # ~40 MB of log: the connections' own automatic checkpoint while the thread runs


class WalCheckpointer:
    """Component: checkpoint ``store``'s SQLite database in the background (nothing for other databases)."""

    def __init__(self, store, interval: float = INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._pool = None
        #: checkpoints run (for tests)
        self.runs = 0

    @property
    def applies(self) -> bool:
        url = self.store.engine.url
        return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")

    def start(self) -> None:
        if not self.applies:
            return
        self.store.autocheckpoint_pages = SAFETY_PAGES
        self.store.engine.dispose()  # pooled connections open again with that setting
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.store.autocheckpoint_pages = None
        if self._pool is not None:
            self._pool.kill()
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._in_native_thread(self.checkpoint)
            except Exception:  # noqa: BLE001 - the connections' own checkpoints still bound the log
                log.warning("WAL checkpoint failed; retrying in %.1f s", self.interval, exc_info=True)

    def checkpoint(self) -> None:
        """One ``PASSIVE`` checkpoint on this component's own connection."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.store.engine.url.database, timeout=10, check_same_thread=False)
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.runs += 1

    def _in_native_thread(self, fn) -> None:
        """Under gevent, in a native thread (the checkpoint's fsyncs must not hold up the event loop)."""
        from gevent import monkey
        if not monkey.is_module_patched("threading"):
            fn()  # this loop already is a native thread
            return
        if self._pool is None:
            from gevent.threadpool import ThreadPool
            self._pool = ThreadPool(1)
        self._pool.apply(fn)
