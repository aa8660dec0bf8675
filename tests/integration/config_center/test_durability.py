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

    monkeypatch.setattr(config.commits.records, "write_alone", broken)
    with pytest.raises(Exception) as e:
        config.publish(*KEY, "v2", author="t")
    assert getattr(e.value, "status", None) == 503
    assert _zk_value(zk).version == 2  # live in ZooKeeper, not acknowledged
    monkeypatch.undo()
    assert config.publish(*KEY, "v3", author="t")["version"] == 3
    _, hist = config.history(*KEY)
    assert [h["version"] for h in hist] == [3, 2, 1]


def test_concurrent_publishes_share_batches_and_every_version_is_recorded(config):
    import threading

    batches = config.commits
    before = (batches.batches, batches.written)
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
    assert batches.written - before[1] == 60
    assert all(config.history("public", "G", f"gc{i}")[0] == 10 for i in range(6))
    assert all(config.get("public", "G", f"gc{i}")["content"] == "n=9" for i in range(6))


def _publish(key, content, version, znode_version):
    from shipway.config_center.commit import Publish
    from shipway.config_center.records import Record
    value = Value(content=content, md5=md5_of(content), version=version)
    return Publish(config_path(*key), znode_version, Record(key, "created", value, "t", "", "publish"))


def _write_as_one_batch(batches, publishes):
    """Write ``publishes`` as one batch, as if they had arrived together."""
    with batches._lock:
        batches._at_zookeeper += 1
    batches._lead(publishes)


def test_a_refused_write_fails_only_its_own_publish_of_a_batch(config, zk):
    from kazoo.exceptions import BadVersionError, NodeExistsError
    zk.create(config_path("public", "G", "mb-taken"), b"x", makepath=True)
    zk.create(config_path("public", "G", "mb-old"), b"x", makepath=True)
    zk.set(config_path("public", "G", "mb-old"), b"y")  # now at znode version 1
    good = _publish(("public", "G", "mb-new"), "a", 1, None)
    taken = _publish(("public", "G", "mb-taken"), "b", 1, None)  # someone created it meanwhile
    stale = _publish(("public", "G", "mb-old"), "c", 1, 0)  # someone changed it meanwhile
    _write_as_one_batch(config.commits, [good, taken, stale])
    assert good.zk_error is None and good.sql_error is None and good.new_version == 0
    assert isinstance(taken.zk_error, NodeExistsError) and isinstance(stale.zk_error, BadVersionError)
    assert decode(zk.get(config_path("public", "G", "mb-new"))[0]).content == "a"
    assert zk.get(config_path("public", "G", "mb-old"))[0] == b"y"  # not overwritten
    assert [h["version"] for h in config.history("public", "G", "mb-new")[1]] == [1]
    assert config.history("public", "G", "mb-taken")[0] == 0  # nothing recorded for a refused write


def test_a_batch_with_a_record_sql_refuses_fails_only_that_publish(config, zk):
    one = _publish(("public", "G", "sb-one"), "a", 1, None)
    two = _publish(("public", "G", "sb-two"), "b", 1, None)
    # sb-two's version 1 is already recorded (committed) — as if another server had written it
    config.commits.records.write([two.record])
    _write_as_one_batch(config.commits, [one, two])
    assert one.zk_error is None and one.sql_error is None
    assert two.zk_error is None and two.sql_error is not None  # in ZooKeeper, not recorded: the publish answers 503
    assert [h["version"] for h in config.history("public", "G", "sb-one")[1]] == [1]
