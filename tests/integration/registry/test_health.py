"""The server's health timers: heartbeat expiry, checks of persistent instances, leader election."""

from __future__ import annotations

import socket

import pytest

from shipway.core.context import Context
from shipway.registry.health import HealthKeeper
from support.waiting import wait_for

pytestmark = pytest.mark.zookeeper


@pytest.fixture
def keeper(ctx, naming):
    k = HealthKeeper(ctx, naming, tick=0.2, check_interval=0.3, check_timeout=0.5, unhealthy_after=2)
    k.start()
    yield k
    k.stop()


def _one(naming, svc):
    insts = naming.list_instances(svc)
    return insts[0] if insts else None


def test_heartbeat_instance_goes_unhealthy_then_away(keeper, naming):
    md = {"preserved.heart.beat.timeout": "1000", "preserved.ip.delete.timeout": "2500"}
    naming.register_instance("hb", "10.2.0.1", 80, ephemeral=True, metadata=md)
    wait_for(lambda: _one(naming, "hb") and not _one(naming, "hb")["healthy"], timeout=5,
             message="unhealthy after the heartbeat timeout")
    # a beat makes it healthy again at once
    naming.beat("public", "DEFAULT_GROUP", "hb", "10.2.0.1", 80)
    assert _one(naming, "hb")["healthy"]
    wait_for(lambda: _one(naming, "hb") is None, timeout=8, message="removed after the delete timeout")


def test_default_heartbeat_timing_keeps_a_beating_instance(keeper, naming):
    naming.register_instance("hb2", "10.2.0.2", 80, ephemeral=True)
    keeper.sweep()
    assert _one(naming, "hb2")["healthy"]


def test_persistent_instance_is_tcp_checked(keeper, naming):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    try:
        naming.register_instance("tcp", "127.0.0.1", port, healthy=False)
        wait_for(lambda: _one(naming, "tcp")["healthy"], timeout=5, message="healthy once the port answers")
    finally:
        srv.close()
    wait_for(lambda: not _one(naming, "tcp")["healthy"], timeout=5, message="unhealthy once the port is closed")


def test_orchestrator_instances_are_not_checked(keeper, naming):
    port = _closed_port()
    naming.register_instance("orch", "127.0.0.1", port, metadata={"managed-by": "shipway-orchestrator"})
    naming.register_instance("none", "127.0.0.1", port, metadata={"shipway.health.check": "none"})
    naming.register_instance("checked", "127.0.0.1", port)
    wait_for(lambda: not _one(naming, "checked")["healthy"], timeout=5, message="the checked one turns unhealthy")
    assert _one(naming, "orch")["healthy"] and _one(naming, "none")["healthy"]


def test_only_one_server_leads(ctx, naming, zk_hosts, tmp_path):
    from shipway.core.settings import load_settings
    other_ctx = Context.from_settings(load_settings({"data_dir": str(tmp_path / "other"), "secret_key": "k",
                                                     "zk": zk_hosts, "registry": "127.0.0.1:1",
                                                     "zk_session_timeout": 4.0}, env={}))
    other_ctx.connect()
    try:
        a, b = HealthKeeper(ctx, naming), HealthKeeper(other_ctx, naming)
        assert [a.is_leader(), b.is_leader()] == [True, False]
        assert a.is_leader() and not b.is_leader()
        a.stop()  # hands leadership over
        assert b.is_leader()
    finally:
        other_ctx.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_silence_counts_from_leadership_at_the_earliest(ctx, naming):
    """After an outage or a change of leader, beats that could not land are not held against clients."""
    import time
    k = HealthKeeper(ctx, naming)
    md = {"preserved.heart.beat.timeout": "1000", "preserved.ip.delete.timeout": "2000"}
    naming.register_instance("grace", "10.2.1.1", 80, ephemeral=True, metadata=md)
    now = time.time() + 60  # the last beat is a minute old...
    k._grace_from = now - 0.5  # ...but this server only leads since half a second
    k.sweep(now)
    assert _one(naming, "grace")["healthy"]
    k.sweep(now + 1.0)
    assert not _one(naming, "grace")["healthy"]
    k.sweep(now + 2.0)
    assert _one(naming, "grace") is None


def test_sweep_reads_a_beat_record_only_near_its_deadline(ctx, naming, monkeypatch):
    """Thousands of beating instances must not cost a ZooKeeper read each per tick."""
    k = HealthKeeper(ctx, naming)
    for n in range(5):
        naming.register_instance("many", f"10.2.1.{n}", 80, ephemeral=True)
    reads = []
    real = naming.last_beats
    monkeypatch.setattr(naming, "last_beats", lambda items: reads.extend(items) or real(items))
    import time
    now = time.time()
    k.sweep(now)
    k.sweep(now + 5)
    assert reads == []  # just registered: the registration counts as the first beat
    k.sweep(now + 16)  # past the 15 s deadline counted from the registration: read them, in one go
    assert len(reads) == 5
    assert all(not i["healthy"] for i in naming.list_instances("many"))
    naming.beat("public", "DEFAULT_GROUP", "many", "10.2.1.0", 80)
    k.sweep(now + 17)
    # the unhealthy ones are judged against the 30 s removal deadline: not read; the one that beat
    # is healthy again with an old known beat: read once more
    assert len(reads) == 6 and reads[-1][3].startswith("10.2.1.0#")
