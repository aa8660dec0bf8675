"""The publish protocol's recovery paths: pending rows settled from ZooKeeper, ZooKeeper repaired from SQL,
and a write by someone else (another server) never clobbered."""

from __future__ import annotations

import pytest

from shipway.config_center.models import Op
from shipway.config_center.paths import Value, config_path, decode, md5_of
from shipway.config_center.reconcile import reconcile

pytestmark = pytest.mark.zookeeper

KEY = ("public", "G", "d")


def _zk_value(zk):
    return decode(zk.get(config_path(*KEY))[0])


def test_reconcile_settles_pending_rows_and_repairs_zookeeper(config, zk):
    config.publish(*KEY, "v1", author="t")
    config.publish(*KEY, "v2", author="t")
    # crash after the SQL row, before the ZooKeeper write
    config._begin(KEY, Op.UPDATED, "lost", "text", "", [], "t", "")
    # crash after the ZooKeeper write, before the commit mark
    _, v4 = config._begin(KEY, Op.UPDATED, "landed", "text", "", [], "t", "")
    zk.set(config_path(*KEY), Value(content="landed", md5=md5_of("landed"), version=v4).encode())
    assert reconcile(config) == {"settled": 2, "adopted": 0, "repaired": 0}
    _, hist = config.history(*KEY)
    assert [h["version"] for h in hist] == [4, 2, 1]  # 3 never became visible: aborted, not in the history
    assert config.list_configs()[1][0]["version"] == 4
    # ZooKeeper lost the value (e.g. a wiped ensemble): rewritten from the store
    zk.delete(config_path(*KEY))
    assert reconcile(config) == {"settled": 0, "adopted": 0, "repaired": 1}
    assert _zk_value(zk).content == "landed" and _zk_value(zk).version == 4
    assert config.publish(*KEY, "v5", author="t")["version"] == 5


def test_a_write_by_another_server_is_not_clobbered(config, zk):
    config.publish(*KEY, "mine", author="t")
    # another server (or an operator) writes version 7 behind this server's back
    zk.set(config_path(*KEY), Value(content="theirs", md5=md5_of("theirs"), version=7).encode())
    out = config.publish(*KEY, "mine again", author="t")
    assert out["version"] == 8 and _zk_value(zk).version == 8
    # a CAS against what this server wrote last, while ZooKeeper holds something else, is refused
    zk.set(config_path(*KEY), Value(content="x", md5=md5_of("x"), version=9).encode())
    with pytest.raises(Exception) as e:
        config.publish(*KEY, "y", author="t", cas_md5=md5_of("mine again"))
    assert getattr(e.value, "status", None) == 409
    assert _zk_value(zk).content == "x"


def test_a_crash_between_the_zookeeper_write_and_the_sql_commit_is_recorded_at_restart(config, zk):
    config.publish(*KEY, "v1", author="t")
    # the publish wrote version 2 to ZooKeeper (watchers may have seen it), then the process died
    landed = Value(content="seen", md5=md5_of("seen"), version=2, author="alice", time=1_700_000_000_000)
    zk.set(config_path(*KEY), landed.encode())
    assert reconcile(config) == {"settled": 0, "adopted": 1, "repaired": 0}
    _, hist = config.history(*KEY)
    assert [(h["version"], h["author"]) for h in hist] == [(2, "alice"), (1, "t")]
    assert config.version(*KEY, 2)["content"] == "seen"
    assert config.list_configs()[1][0]["version"] == 2
    assert reconcile(config) == {"settled": 0, "adopted": 0, "repaired": 0}  # idempotent
    assert config.publish(*KEY, "v3", author="t")["version"] == 3


def test_a_store_failure_after_the_zookeeper_write_is_recorded_by_the_next_publish(config, zk, monkeypatch):
    config.publish(*KEY, "v1", author="t")

    def broken(record):
        raise RuntimeError("disk full")

    monkeypatch.setattr(config.commits, "submit", broken)
    with pytest.raises(Exception) as e:
        config.publish(*KEY, "v2", author="t")
    assert getattr(e.value, "status", None) == 503
    assert _zk_value(zk).version == 2  # live in ZooKeeper, not acknowledged
    monkeypatch.undo()
    assert config.publish(*KEY, "v3", author="t")["version"] == 3
    _, hist = config.history(*KEY)
    assert [h["version"] for h in hist] == [3, 2, 1]


def test_group_commit_batches_concurrent_publishes_and_isolates_a_bad_record(config):
    import threading

    from shipway.config_center.commit import GroupCommit, Record
    from shipway.core.batching import _Slot

    gc = config.commits
    before = (gc.batches, gc.records)
    errors = []

    def pub(i):
        try:
            for n in range(10):
                config.publish("public", "G", f"gc{i}", f"n={n}", author="t")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=pub, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors
    assert gc.records - before[1] == 60
    assert all(config.history("public", "G", f"gc{i}")[0] == 10 for i in range(6))
    # a batch with one record that cannot be written: only that one fails
    own = GroupCommit(config.store.engine, lambda conn, key, value: None)
    good = Record(("public", "G", "gc-good"), "created", Value(content="a", md5=md5_of("a"), version=1), "t", "", "x")
    bad = Record(("public", "G", "gc-good"), "created", Value(content="b", md5=md5_of("b"), version=1), "t", "", "x")
    slots = [_Slot(good), _Slot(bad)]
    own._batcher._write(slots)  # one batch of both, as if they had arrived together
    assert slots[0].error is None and slots[1].error is not None
