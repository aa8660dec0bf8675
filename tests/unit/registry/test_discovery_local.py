"""Discovery SDK pieces that need no ZooKeeper: balancing, the snapshot, the cache rules."""

from __future__ import annotations

import random
from collections import Counter

from shipway.discovery.balancer import RoundRobin, candidates, weighted_random
from shipway.discovery.base import DiscoveryBase
from shipway.discovery.snapshot import Snapshots


def _inst(n, w=1.0, healthy=True, enabled=True):
    return {"instanceId": n, "weight": w, "healthy": healthy, "enabled": enabled, "clusterName": "DEFAULT"}


def test_weighted_random_follows_weights():
    pool = [_inst("a", 1), _inst("b", 4)]
    rng = random.Random(7)
    counts = Counter(weighted_random(pool, rng)["instanceId"] for _ in range(5000))
    assert 3700 < counts["b"] < 4300


def test_smooth_round_robin():
    rr = RoundRobin()
    pool = [_inst("a", 5), _inst("b", 1), _inst("c", 1)]
    seq = [rr.pick("k", pool)["instanceId"] for _ in range(7)]
    assert Counter(seq) == {"a": 5, "b": 1, "c": 1}
    assert seq[:3] != ["a", "a", "a"]  # smooth: no burst of the heavy one
    plain = [rr.pick("k2", [_inst("x"), _inst("y")])["instanceId"] for _ in range(4)]
    assert plain in (["x", "y", "x", "y"], ["y", "x", "y", "x"])


def test_candidates_skip_unhealthy_disabled_and_zero_weight():
    pool = [_inst("a"), _inst("b", healthy=False), _inst("c", enabled=False), _inst("d", 0)]
    assert [i["instanceId"] for i in candidates(pool)] == ["a"]


def test_snapshot_round_trip(tmp_path):
    snaps = Snapshots(tmp_path)
    snaps.save("ns", "g", "s", {"instances": [_inst("a")], "protectThreshold": 0.2})
    assert snaps.load("ns", "g", "s")["instances"][0]["instanceId"] == "a"
    assert snaps.load("ns", "g", "other") is None
    (tmp_path / "ns" / "g@@bad.json").write_text("{broken")
    assert snaps.load("ns", "g", "bad") is None


class _Fake(DiscoveryBase):
    def _watch(self, key):
        pass


def test_cache_publish_notifies_and_outage_keeps_the_list(tmp_path):
    d = _Fake(snapshot_dir=str(tmp_path), first_load_timeout=0.01)
    seen = []
    d.subscribe("svc", seen.append)
    key = d.key("svc")
    d._publish(key, [_inst("a"), _inst("b")], 0.0)
    assert [len(s) for s in seen] == [2]
    d._publish(key, [_inst("b"), _inst("a")], 0.0)  # same set: no callback
    assert len(seen) == 1
    # a new client with no connection serves the snapshot
    d2 = _Fake(snapshot_dir=str(tmp_path), first_load_timeout=0.01)
    assert len(d2.instances("svc")) == 2
    assert d2.choose("svc")["instanceId"] in ("a", "b")


def test_a_failing_subscriber_does_not_stop_others(tmp_path):
    d = _Fake(snapshot_dir=str(tmp_path), first_load_timeout=0.01)
    got = []
    d.subscribe("svc", lambda insts: 1 / 0)
    d.subscribe("svc", got.append)
    d._publish(d.key("svc"), [_inst("a")], 0.0)
    assert len(got) == 1


def test_http_mode_serves_the_snapshot_when_the_server_is_down(tmp_path):
    from shipway.core import launcher
    from shipway.discovery import HttpDiscovery

    Snapshots(tmp_path).save("public", "DEFAULT_GROUP", "svc", {"instances": [_inst("a")], "protectThreshold": 0})
    d = HttpDiscovery(f"http://127.0.0.1:{launcher.free_port()}", "t", snapshot_dir=str(tmp_path),
                      poll_interval=0.05, timeout=0.5)
    try:
        d.first_load_timeout = 0.2
        assert [i["instanceId"] for i in d.instances("svc")] == ["a"]
        assert d.choose("svc")["instanceId"] == "a"
    finally:
        d.close()


def test_publish_with_a_signature_compares_names_not_records(tmp_path):
    """The ZooKeeper client passes the set of host znode names: equal sets mean no change, no callback."""
    d = _Fake(snapshot_dir=str(tmp_path), first_load_timeout=0.01)
    seen = []
    d.subscribe("svc", seen.append)
    key = d.key("svc")
    d._publish(key, [_inst("b"), _inst("a")], 0.0, signature=frozenset({"a!w=1", "b!w=1"}))
    d._publish(key, [_inst("a"), _inst("b")], 0.0, signature=frozenset({"a!w=1", "b!w=1"}))
    assert [[i["instanceId"] for i in s] for s in seen] == [["a", "b"]]  # sorted, once
    d._publish(key, [_inst("a", w=2), _inst("b")], 0.0, signature=frozenset({"a!w=2", "b!w=1"}))
    assert len(seen) == 2 and seen[-1][0]["weight"] == 2
    d._publish(key, [_inst("a", w=2), _inst("b")], 0.5, signature=frozenset({"a!w=2", "b!w=1"}))
    assert len(seen) == 3  # the protect threshold changed
    seen[-1].clear()  # a callback may do what it likes with its list
    assert len(d.instances("svc", healthy_only=False)) == 2
