"""The SDK in ZooKeeper mode: reads, hot reload order, callback failures, beta labels, lost sessions,
snapshot while ZooKeeper is down, and a ZooKeeper restart during a publish storm."""

from __future__ import annotations

import logging
import threading

import pytest

from shipway.config_center import ConfigClient
from shipway.core.errors import ShipwayError
from support.waiting import wait_for

pytestmark = pytest.mark.zookeeper

NS, G = "public", "DEFAULT_GROUP"


def _client(zk_hosts, tmp_path, name="snap", **kw):
    kw.setdefault("connect_timeout", 10)
    return ConfigClient(zk=zk_hosts, snapshot_dir=tmp_path / name, **kw).start()


def test_get_typed_and_watch_in_order(config, zk_hosts, tmp_path, recorder):
    config.publish(NS, G, "app.json", '{"a": 1}', "json", author="t")
    config.publish(NS, G, "app.props", "a=1\nb = two\\\n  lines\n", "properties", author="t")
    config.publish(NS, G, "app.yaml", "x: [1, 2]\n", "yaml", author="t")
    with _client(zk_hosts, tmp_path) as c:
        assert c.get_json("app.json") == {"a": 1}
        assert c.get_properties("app.props") == {"a": "1", "b": "twolines"}
        assert c.get_yaml("app.yaml") == {"x": [1, 2]}
        assert c.get("missing") is None
        rec, bad = recorder(), recorder(fail_on=3)
        c.watch("app.json", G, rec)
        c.watch("app.json", G, bad)
        wait_for(lambda: rec.versions == [1], 5, message="initial value")
        for i in range(2, 12):
            config.publish(NS, G, "app.json", f'{{"a": {i}}}', "json", author="t")
        wait_for(lambda: rec.last.version == 11, 10, message="version 11")
        # every delivered version once, strictly increasing; the failing callback kept getting values
        assert rec.versions == sorted(set(rec.versions)) and rec.versions[-1] == 11
        wait_for(lambda: bad.last.version == 11, 5, message="failing callback continues")
        config.delete(NS, G, "app.json", author="t")
        wait_for(lambda: rec.last.content is None, 5, message="deletion delivered")


def test_beta_by_labels_and_session_loss(config, zk_hosts, tmp_path, zk_faults, recorder):
    config.publish(NS, G, "flag", "off", author="t")
    canary = _client(zk_hosts, tmp_path, "a", labels={"track": "canary"})
    plain = _client(zk_hosts, tmp_path, "b")
    try:
        rc, rp = recorder(), recorder()
        canary.watch("flag", G, rc)
        plain.watch("flag", G, rp)
        wait_for(lambda: rc.values and rp.values, 5, message="initial values")
        config.beta_publish(NS, G, "flag", "on", labels={"track": "canary"}, author="t")
        wait_for(lambda: rc.last.content == "on" and rc.last.beta, 5, message="beta reaches the canary")
        assert rp.last.content == "off" and plain.get("flag") == "off"
        config.beta_stop(NS, G, "flag", author="t")
        wait_for(lambda: rc.last.content == "off", 5, message="beta stopped")
        # lose the session: watches are re-armed and an update made meanwhile is not missed
        zk_faults.expire_session(plain.transport.client)
        config.publish(NS, G, "flag", "v3", author="t")
        wait_for(lambda: rp.last.content == "v3", 15, message="update after session loss")
        config.publish(NS, G, "flag", "v4", author="t")
        wait_for(lambda: rp.last.content == "v4", 10, message="watch re-armed")
    finally:
        canary.close()
        plain.close()


def test_snapshot_when_zookeeper_is_down_then_catch_up(config, zk_hosts, zk_server, tmp_path, recorder, caplog):
    config.publish(NS, G, "db.url", "v1", author="t")
    with _client(zk_hosts, tmp_path, "shared") as first:
        assert first.get("db.url") == "v1"  # written to the snapshot
    config.publish(NS, G, "db.url", "v2", author="t")  # made while the app is not running
    zk_server.kill()
    caplog.set_level(logging.WARNING, logger="shipway.config_center.client")
    app = ConfigClient(zk=zk_hosts, snapshot_dir=tmp_path / "shared", connect_timeout=0.2).start()
    try:
        assert app.serving_snapshot
        assert "serving snapshot values" in caplog.text
        rec = recorder()
        app.watch("db.url", G, rec)
        wait_for(lambda: rec.values, 5, message="snapshot value delivered")
        assert rec.values[0].content == "v1"
        zk_server.wait_serving()
        wait_for(lambda: rec.last.content == "v2", 30, message="catch up with the update made while away")
        assert not app.serving_snapshot and "reachable again" in caplog.text
    finally:
        app.close()


def test_zookeeper_restart_during_publish_storm(config, app, zk_hosts, zk_server, tmp_path, recorder):
    config.publish(NS, G, "storm", "0", author="t")
    clients = [_client(zk_hosts, tmp_path, f"s{i}") for i in range(3)]
    recs = [recorder() for _ in clients]
    for c, r in zip(clients, recs):
        c.watch("storm", G, r)
    acked: list[int] = []
    failures: list[str] = []

    def storm():
        for i in range(1, 61):
            try:
                acked.append(config.publish(NS, G, "storm", str(i), author="t")["version"])
            except ShipwayError as e:
                failures.append(e.message)

    try:
        t = threading.Thread(target=storm)
        t.start()
        wait_for(lambda: len(acked) >= 10, 20, message="the storm to start")
        zk_server.restart()
        t.join(120)
        assert not t.is_alive()
        final = config.publish(NS, G, "storm", "final", author="t")
        acked.append(final["version"])
        for r in recs:
            wait_for(lambda r=r: r.last and r.last.version == final["version"], 30,
                     message="every watcher ends on the final version")
            assert r.versions == sorted(set(r.versions)), "versions delivered in order, once"
        _, hist = config.history(NS, G, "storm", size=500)
        versions = {h["version"] for h in hist}
        assert set(acked) <= versions, "every acknowledged version is in the history"
        seen = {v for r in recs for v in r.versions}
        assert seen <= versions, f"versions watchers saw but the history lacks: {sorted(seen - versions)}"
    finally:
        for c in clients:
            c.close()
