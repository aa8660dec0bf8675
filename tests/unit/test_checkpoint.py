"""core/checkpoint.py: the SQLite store's WAL checkpoints in a thread of their own."""

from __future__ import annotations

from sqlalchemy import text
from support.waiting import wait_for

from shipway.core.checkpoint import SAFETY_PAGES, WalCheckpointer
from shipway.core.store import Meta, Store


def _autocheckpoint(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()


def test_checkpoints_run_in_the_background_and_the_connections_defer_theirs(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_all()
    assert _autocheckpoint(store) == 1000  # SQLite's default while no checkpointer runs
    checkpointer = WalCheckpointer(store, interval=0.02)
    checkpointer.start()
    try:
        assert _autocheckpoint(store) == SAFETY_PAGES
        for i in range(50):
            with store.session() as s:
                s.add(Meta(key=f"k{i}", value="x" * 2000))
        wait_for(lambda: checkpointer.runs >= 3, interval=0.01, message="three checkpoints")
        with store.engine.connect() as conn:  # everything in the log is in the database file: nothing left to copy
            busy, log_pages, done = conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
        assert busy == 0 and log_pages == done
    finally:
        checkpointer.stop()
    store.engine.dispose()
    assert _autocheckpoint(store) == 1000
    with store.session() as s:
        assert s.get(Meta, "k49").value == "x" * 2000


def test_nothing_to_do_for_other_databases():
    checkpointer = WalCheckpointer(Store("sqlite://"))  # in memory: no log
    checkpointer.start()
    assert checkpointer._thread is None
    checkpointer.stop()
