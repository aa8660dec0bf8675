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
    assert reconcile(config) == {"settled": 2, "repaired": 0}
    _, hist = config.history(*KEY)
    assert [h["version"] for h in hist] == [4, 2, 1]  # 3 never became visible: aborted, not in the history
    assert config.list_configs()[1][0]["version"] == 4
    # ZooKeeper lost the value (e.g. a wiped ensemble): rewritten from the store
    zk.delete(config_path(*KEY))
    assert reconcile(config) == {"settled": 0, "repaired": 1}
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
