"""RecordWriter (config_center/records.py): a publish's SQL rows, on its own kept connection."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shipway.config_center import models  # noqa: F401 - the tables
from shipway.config_center.paths import Value, md5_of
from shipway.config_center.records import Record, RecordWriter
from shipway.config_center.service import index_core
from shipway.core.store import Store


def _record(name: str, version: int) -> Record:
    value = Value(content=f"v{version}", md5=md5_of(f"v{version}"), version=version, type="text", author="t")
    return Record(("public", "G", name), "updated", value, "t", "10.0.0.1", "publish")


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_all()
    yield store
    store.dispose()


def _rows(store, sql: str):
    with store.engine.connect() as conn:
        return conn.execute(text(sql)).fetchall()


def test_rows_of_a_batch_and_an_index_that_never_moves_back(store):
    writer = RecordWriter(store.engine, index_core)
    writer.write([_record("a", 1), _record("b", 1)])
    writer.write([_record("a", 3)])
    writer.write([_record("a", 2)])  # late: history gets it, the index keeps version 3
    assert _rows(store, "SELECT data_id, version, state FROM config_history ORDER BY id") == [
        ("a", 1, "committed"), ("b", 1, "committed"), ("a", 3, "committed"), ("a", 2, "committed")]
    assert _rows(store, "SELECT data_id, version FROM config_items ORDER BY data_id") == [("a", 3), ("b", 1)]
    assert _rows(store, "SELECT count(*), min(source_ip) FROM config_audit") == [(4, "10.0.0.1")]


def test_a_refused_batch_writes_nothing_and_the_connection_goes_on(store):
    writer = RecordWriter(store.engine, index_core)
    writer.write([_record("a", 1)])
    with pytest.raises(Exception):
        writer.write([_record("b", 1), _record("a", 1)])  # a's version 1 exists: the whole batch is refused
    assert _rows(store, "SELECT count(*) FROM config_history") == [(1,)]
    writer.write([_record("b", 1)])
    assert _rows(store, "SELECT count(*) FROM config_history") == [(2,)]


def test_a_broken_connection_is_replaced(store):
    writer = RecordWriter(store.engine, index_core)
    writer.write([_record("a", 1)])
    writer._connection().driver_connection.close()  # e.g. the database server went away
    with pytest.raises(Exception):
        writer.write([_record("a", 2)])
    writer.write([_record("a", 2)])  # a fresh connection
    assert _rows(store, "SELECT version FROM config_history ORDER BY version") == [(1,), (2,)]
