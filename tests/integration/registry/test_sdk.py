"""The discovery SDK against a real ZooKeeper: register, subscribe, choose, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from shipway.discovery import NoInstanceAvailable
from support.waiting import wait_for

pytestmark = pytest.mark.zookeeper


def ids(insts):
    return sorted(i["instanceId"] for i in insts)


def test_register_subscribe_choose_and_deregister(sdk, naming):
    a, b = sdk(), sdk()
    seen = []
    b.subscribe("orders", lambda insts: seen.append(ids(insts)))
    with a.register("orders", "10.0.0.1", 8080, weight=1, metadata={"v": "1"}) as reg:
        assert reg.instance_id == "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders"
        r2 = a.register("orders", "10.0.0.2", 8080, weight=3)
        wait_for(lambda: len(b.instances("orders")) == 2, message="both instances in the subscriber's cache")
        assert seen[-1] == ids(b.instances("orders"))
        # the server sees the same instances (the naming service reads the same znodes)
        assert ids(naming.list_instances("orders")) == ids(b.instances("orders"))
        picks = Counter(b.choose("orders")["ip"] for _ in range(2000))
        assert 1200 < picks["10.0.0.2"] < 1800, picks  # weight 3:1
        rr = [b.choose("orders", strategy="round_robin")["ip"] for _ in range(8)]
        assert rr.count("10.0.0.2") == 6 and rr.count("10.0.0.1") == 2
        # disabling / unhealthy takes an instance out of rotation without deregistering it
        r2.update(enabled=False)
        wait_for(lambda: len(b.instances("orders")) == 1, message="disabled instance out of rotation")
        assert {b.choose("orders")["ip"] for _ in range(50)} == {"10.0.0.1"}
        assert len(b.instances("orders", healthy_only=False)) == 2
        r2.deregister()
    wait_for(lambda: b.instances("orders", healthy_only=False) == [], message="deregistered on exit")
    with pytest.raises(NoInstanceAvailable):
        b.choose("orders")


def test_protect_threshold(sdk, naming):
    naming.create_service("public", "DEFAULT_GROUP", "pay", protect_threshold=0.6)
    a, b = sdk(), sdk()
    regs = [a.register("pay", f"10.0.1.{n}", 80) for n in range(1, 4)]
    wait_for(lambda: len(b.instances("pay")) == 3, message="three instances")
    regs[0].update(healthy=False)
    wait_for(lambda: len(b.instances("pay")) == 2, message="one unhealthy: 2/3 > 0.6")
    regs[1].update(healthy=False)
    # 1/3 ≤ 0.6: the threshold is reached, every enabled instance is handed out
    wait_for(lambda: len(b.instances("pay")) == 3, message="protect threshold returns all")
    assert {b.choose("pay")["ip"] for _ in range(100)} == {"10.0.1.1", "10.0.1.2", "10.0.1.3"}


CHILD = textwrap.dedent("""
    import sys, time
    from shipway.discovery import Discovery
    d = Discovery(sys.argv[1], session_timeout=2.0, snapshot_dir=sys.argv[2])
    d.register("victim", "10.9.9.9", 9000)
    print("registered", flush=True)
    time.sleep(600)
""")


def test_kill_9_removes_the_instance(sdk, zk_hosts, tmp_path):
    watcher = sdk()
    watcher.subscribe("victim", lambda insts: None)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, zk_hosts, str(tmp_path / "child")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "registered"
        wait_for(lambda: len(watcher.instances("victim")) == 1, message="the child's instance")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(lambda: watcher.instances("victim", healthy_only=False) == [], timeout=10,
                 message="the killed process's instance to disappear")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_expired_session_re_registers(sdk, zk_faults, naming):
    a, b = sdk(), sdk()
    a.register("exp", "10.0.2.1", 81)
    wait_for(lambda: len(b.instances("exp")) == 1, message="registered")
    old_session = a.zk.client_id[0]
    zk_faults.expire_session(a.zk)
    wait_for(lambda: a.zk.connected and a.zk.client_id[0] != old_session, timeout=15, message="a new session")
    wait_for(lambda: len(naming.list_instances("exp")) == 1
             and naming.zk.exists(_path(naming, "exp")).ephemeralOwner == a.zk.client_id[0],
             timeout=10, message="the instance re-registered under the new session")
    assert len(b.instances("exp")) == 1


def _path(naming, svc):
    from shipway.registry import paths
    inst = naming.list_instances(svc)[0]
    return paths.instance("public", "DEFAULT_GROUP", svc, inst["instanceId"])


def test_stale_node_of_an_old_session_is_replaced(sdk, zk, zk_hosts, naming):
    """The "node still exists" race: a node held by another session is waited out, never duplicated."""
    from kazoo.client import KazooClient
    from shipway.registry import paths
    a = sdk()
    # a node for the same instance held by another session (like the previous incarnation of the process)
    other = KazooClient(zk_hosts, timeout=4)
    other.start()
    try:
        path = paths.instance("public", "DEFAULT_GROUP", "race", "10.0.3.1#82#DEFAULT#DEFAULT_GROUP@@race")
        other.create(path, b"{}", ephemeral=True, makepath=True)
        reg = a.register("race", "10.0.3.1", 82, wait=0.5)
        assert not reg.registered.is_set()
        other.stop()  # the old session ends: its node goes, ours is created
        wait_for(reg.registered.is_set, timeout=10, message="registration after the old node went")
        assert zk.get(path)[1].ephemeralOwner == a.zk.client_id[0]
        assert len(naming.list_instances("race")) == 1
    finally:
        other.close()


def test_zookeeper_restart_keeps_every_instance_and_the_cache(zk_server, restart_proof_hosts, tmp_path):
    from kazoo.client import KazooClient
    from shipway.discovery import Discovery
    from shipway.registry.naming import NamingService

    server = KazooClient(restart_proof_hosts, timeout=30,
                         connection_retry=dict(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0))
    server.start(timeout=15)
    naming = NamingService(lambda: server)
    a = Discovery(restart_proof_hosts, snapshot_dir=str(tmp_path / "a"))
    b = Discovery(restart_proof_hosts, snapshot_dir=str(tmp_path / "b"))
    try:
        for n in range(5):
            a.register("survive", f"10.0.4.{n}", 83)
        wait_for(lambda: len(b.instances("survive")) == 5, message="five instances")
        served = []
        zk_server.kill()
        # during the outage the subscriber keeps serving its cache
        wait_for(lambda: not b.zk.connected, timeout=10, message="the subscriber notices the outage")
        for _ in range(20):
            served.append(len(b.instances("survive")))
            b.choose("survive")
        assert set(served) == {5}
        zk_server.wait_serving()
        wait_for(lambda: a.zk.connected and b.zk.connected, timeout=30, message="clients reconnected")
        wait_for(lambda: len(naming.list_instances("survive")) == 5, timeout=15, message="every instance back")
        assert len(set(ids(naming.list_instances("survive")))) == 5
        wait_for(lambda: len(b.instances("survive")) == 5, timeout=10, message="subscriber sees five")
    finally:
        a.close()
        b.close()
        server.stop()
        server.close()


def test_snapshot_serves_when_zookeeper_is_unreachable(sdk, tmp_path):
    snap = str(tmp_path / "shared-snap")
    a, b = sdk(), sdk(snapshot_dir=snap)
    a.register("snap", "10.0.5.1", 84)
    wait_for(lambda: len(b.instances("snap")) == 1, message="cached and snapshotted")
    b.close()
    from shipway.discovery import Discovery
    from shipway.core import launcher
    dead = Discovery(f"127.0.0.1:{launcher.free_port()}", snapshot_dir=snap, connect_timeout=0.5)
    try:
        insts = dead.instances("snap")
        assert [i["ip"] for i in insts] == ["10.0.5.1"]
        assert dead.choose("snap")["port"] == 84
    finally:
        dead.close()


CLEAN_EXIT = textwrap.dedent("""
    import sys
    from shipway.discovery import Discovery
    d = Discovery(sys.argv[1], session_timeout=30.0, snapshot_dir="")
    d.register("leaver", "10.9.9.8", 9001)
    print("registered", flush=True)
    sys.stdin.readline()
""")


def test_clean_exit_deregisters_at_once(sdk, zk_hosts):
    """No explicit close: the interpreter's exit closes the client; no 30 s session timeout to wait."""
    import time
    watcher = sdk()
    watcher.subscribe("leaver", lambda insts: None)
    proc = subprocess.Popen([sys.executable, "-c", CLEAN_EXIT, zk_hosts], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "registered"
        wait_for(lambda: len(watcher.instances("leaver")) == 1, message="registered")
        t0 = time.monotonic()
        proc.stdin.close()
        proc.wait(timeout=20)
        wait_for(lambda: watcher.instances("leaver", healthy_only=False) == [], timeout=10, message="gone")
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_snapshot_is_written_shortly_after_a_change_without_closing(sdk, tmp_path):
    """Snapshots are written by the worker (not before callbacks), soon after the change."""
    import json
    from pathlib import Path
    a, b = sdk(), sdk(snapshot_dir=str(tmp_path / "later"))
    b.subscribe("later", lambda insts: None)
    a.register("later", "10.0.5.2", 85)
    wait_for(lambda: len(b.instances("later")) == 1, message="cached")
    snap = Path(tmp_path / "later" / "public" / "DEFAULT_GROUP@@later.json")
    wait_for(lambda: snap.is_file() and len(json.loads(snap.read_text())["instances"]) == 1, timeout=5,
             message="the snapshot written by the worker")
