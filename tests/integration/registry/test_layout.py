"""The ZooKeeper layout: record + host znode written together; changes reach subscribers in one read."""

from __future__ import annotations

import pytest

from shipway.registry import layout, paths
from support.waiting import wait_for

pytestmark = pytest.mark.zookeeper

KEY = ("public", "DEFAULT_GROUP")


def _hosts(naming, svc):
    return naming.zk.get_children(paths.hosts(*KEY, svc))


def test_sdk_registration_is_two_ephemeral_znodes_of_its_session(sdk, naming):
    a = sdk()
    reg = a.register("lay", "10.0.6.1", 80, metadata={"v": "1"})
    [name] = _hosts(naming, "lay")
    assert layout.decode(name, (*KEY, "lay")) == reg.instance
    me = a.zk.client_id[0]
    assert naming.zk.exists(paths.host(*KEY, "lay", name)).ephemeralOwner == me
    assert naming.zk.exists(reg.path).ephemeralOwner == me
    reg.update(weight=5)
    wait_for(lambda: [layout.decode(n, (*KEY, "lay"))["weight"] for n in _hosts(naming, "lay")] == [5.0],
             message="the host znode replaced by the new weight")
    reg.deregister()
    assert _hosts(naming, "lay") == [] and naming.zk.exists(reg.path) is None


def test_server_change_of_an_sdk_instance_is_republished_by_its_owner(sdk, naming):
    """The console/PATCH changes an SDK instance: the owner adopts it, the host stays ITS ephemeral."""
    a, b = sdk(), sdk()
    reg = a.register("adopt", "10.0.6.2", 80)
    seen = []
    b.subscribe("adopt", lambda insts: seen.append([i["enabled"] for i in insts]))
    wait_for(lambda: seen and seen[-1] == [True], message="subscribed")
    naming.update_instance(*KEY, "adopt", reg.instance_id, enabled=False)
    wait_for(lambda: seen[-1] == [False], message="the subscriber sees the server's change")
    assert reg.instance["enabled"] is False
    [name] = _hosts(naming, "adopt")
    assert naming.zk.exists(paths.host(*KEY, "adopt", name)).ephemeralOwner == a.zk.client_id[0]
    a.close()  # the owner goes: nothing of it is left
    wait_for(lambda: _hosts(naming, "adopt") == [], message="no zombie host znode")


def test_large_metadata_falls_back_to_a_reference(sdk, naming, app, as_role):
    a, b = sdk(), sdk()
    big = {"blob": "y" * 3000}
    reg = a.register("big", "10.0.6.3", 80, metadata=big)
    [name] = _hosts(naming, "big")
    assert layout.is_reference(name)
    wait_for(lambda: [i["metadata"] for i in b.instances("big")] == [big], message="subscriber reads the record")
    reg.update(metadata={**big, "v": "2"})
    wait_for(lambda: [i["metadata"].get("v") for i in b.instances("big")] == ["2"],
             message="a metadata change of a referenced instance reaches the subscriber")
    hosts = as_role(app, "viewer").get("/nacos/v1/ns/instance/list?serviceName=big").json["hosts"]
    assert [h["metadata"]["v"] for h in hosts] == ["2"]


def test_http_instances_change_their_host_znode_in_one_transaction(naming):
    naming.register_instance("tx", "10.0.6.4", 80, metadata={"shipway.health.check": "none"})
    before = _hosts(naming, "tx")
    naming.update_instance(*KEY, "tx", "10.0.6.4#80#DEFAULT#DEFAULT_GROUP@@tx", weight=3)
    after = _hosts(naming, "tx")
    assert len(before) == len(after) == 1 and before != after
    assert layout.decode(after[0], (*KEY, "tx"))["weight"] == 3.0
    assert naming.list_instances("tx")[0]["weight"] == 3.0
    naming.deregister_instance("tx", "10.0.6.4", 80)
    assert _hosts(naming, "tx") == [] and naming.list_instances("tx") == []


def test_heartbeat_registration_is_one_transaction_and_counts_as_the_first_beat(ctx, naming):
    """No beat record is written with the registration; a leftover one cannot expire the new instance."""
    import time
    from shipway.registry.health import HealthKeeper
    iid = "10.0.6.5#80#DEFAULT#DEFAULT_GROUP@@hb"
    naming.zk.create(paths.beat(*KEY, "hb", iid), b"1.0", makepath=True)  # left by an earlier incarnation
    naming.register_instance("hb", "10.0.6.5", 80, ephemeral=True)
    assert len(_hosts(naming, "hb")) == 1
    keeper = HealthKeeper(ctx, naming)
    keeper.sweep(time.time() + 10)  # 10 s after registering: still within the 15 s timeout
    assert naming.list_instances("hb")[0]["healthy"]
    keeper.sweep(time.time() + 16)
    assert not naming.list_instances("hb")[0]["healthy"]
    naming.beat("public", "DEFAULT_GROUP", "hb", "10.0.6.5", 80)  # the first beat writes the record
    assert naming.last_beat(*KEY, "hb", iid) > 1.0 and naming.list_instances("hb")[0]["healthy"]


def test_records_of_the_older_layout_get_their_host_znode(naming):
    """A record without a host znode (written before hosts/ existed) is repaired by the health leader."""
    from shipway.registry import model
    inst = model.make_instance("public", "DEFAULT_GROUP", "old", "10.0.6.6", 80, ephemeral=False)
    naming.zk.create(paths.instance(*KEY, "old", inst["instanceId"]), layout.dump(inst), makepath=True)
    assert naming.list_instances("old") == []
    assert naming.repair(*KEY, "old") == 1
    assert naming.list_instances("old") == [inst]
    assert naming.repair(*KEY, "old") == 0


def test_owner_updates_and_server_changes_both_survive(sdk, naming):
    a, b = sdk(), sdk()
    reg = a.register("both", "10.0.6.7", 80)
    naming.update_instance(*KEY, "both", reg.instance_id, enabled=False)  # through the server
    reg.update(weight=3)  # by the owner, possibly before it has seen the server's change
    wait_for(lambda: [(i["enabled"], i["weight"]) for i in b.instances("both", healthy_only=False)]
             == [(False, 3.0)], message="both changes in the subscriber's view")
    assert naming.get_instance(*KEY, "both", reg.instance_id)["weight"] == 3.0
    # registering the same instance again with new values: the new call wins
    reg2 = a.register("both", "10.0.6.7", 80, weight=7)
    wait_for(lambda: [(i["enabled"], i["weight"]) for i in b.instances("both", healthy_only=False)]
             == [(True, 7.0)], message="the new registration's values")
    assert reg2.instance["weight"] == 7.0 and len(_hosts(naming, "both")) == 1
