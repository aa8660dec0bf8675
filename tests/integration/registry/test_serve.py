"""Against a real ``shipway serve`` (gevent, health timers running): HTTP-only SDK, CLI, console page."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from shipway.cli.commands import cli
from shipway.discovery import HttpDiscovery
from support.waiting import wait_for

pytestmark = [pytest.mark.zookeeper, pytest.mark.slow]


def test_http_mode_cli_and_page(live_server, tmp_path, sdk):
    token = live_server.admin_token()
    runner = CliRunner()

    def svc(*args):
        res = runner.invoke(cli, ["svc", *args, "--url", live_server.url, "--token", token])
        assert res.exit_code == 0, res.output
        return res.output

    http = HttpDiscovery(live_server.url, token, poll_interval=0.3, beat_interval=0.5,
                         snapshot_dir=str(tmp_path / "http-snap"))
    zk_client = sdk()
    try:
        reg = http.register("mixed", "10.3.0.1", 7001, metadata={"preserved.heart.beat.timeout": "3000",
                                                                 "preserved.ip.delete.timeout": "4000"})
        zk_client.register("mixed", "10.3.0.2", 7002)
        # both modes see both instances (one heartbeat-kept, one an ephemeral znode)
        wait_for(lambda: len(http.instances("mixed")) == 2, timeout=10, message="HTTP client sees both")
        wait_for(lambda: len(zk_client.instances("mixed")) == 2, timeout=10, message="ZK client sees both")
        assert http.choose("mixed", strategy="round_robin")["port"] in (7001, 7002)
        reg.update(weight=3, metadata={"v": "2"})
        wait_for(lambda: any(i["port"] == 7001 and i["weight"] == 3 and i["metadata"] == {"v": "2"}
                             for i in zk_client.instances("mixed")), message="HTTP-mode update seen over ZooKeeper")
        # beats keep the HTTP instance healthy past its 3 s timeout (the server's timers are running)
        kinds = {}

        def healthy_past_timeout():
            out = svc("instances", "mixed")
            kinds.update({line.split()[0]: line for line in out.splitlines()[1:]})
            return "10.3.0.1" in kinds

        wait_for(healthy_past_timeout, message="CLI lists the HTTP instance")
        assert "heartbeat" in kinds["10.3.0.1"] and "sdk" in kinds["10.3.0.2"]
        # CLI edits
        svc("register", "mixed", "10.3.0.3", "7003", "-m", "zone=a", "--metadata", "shipway.health.check=none")
        svc("weight", "mixed", "10.3.0.3", "7003", "5")
        svc("disable", "mixed", "10.3.0.3", "7003")
        wait_for(lambda: any(i["port"] == 7003 and not i["enabled"]
                             for i in zk_client.instances("mixed", healthy_only=False)), message="disabled seen")
        svc("enable", "mixed", "10.3.0.3", "7003")
        out = json.loads(svc("instances", "mixed", "--json"))
        third = next(i for i in out if i["port"] == 7003)
        assert third["weight"] == 5 and third["enabled"] and third["metadata"]["zone"] == "a"
        assert "mixed" in svc("list")
        assert json.loads(svc("get", "mixed"))["instanceCount"] == 3
        svc("deregister", "mixed", "10.3.0.3", "7003")
        res = runner.invoke(cli, ["svc", "weight", "mixed", "10.3.0.3", "7003", "2", "--url", live_server.url,
                                  "--token", token])
        assert res.exit_code == 1 and "not found" in res.output
        # the console page lists the service and its instances
        s = requests.Session()
        s.headers.update({"Authorization": f"Bearer {token}", "Accept": "text/html"})
        assert "mixed" in s.get(live_server.url + "/services/").text
        page = s.get(live_server.url + "/services/public/DEFAULT_GROUP/mixed").text
        assert "10.3.0.1" in page and "10.3.0.2" in page and "Disable" in page
        # clean shutdown deregisters; the heartbeat instance is gone at once
        reg.deregister()
        wait_for(lambda: [i["port"] for i in zk_client.instances("mixed", healthy_only=False)] == [7002],
                 message="HTTP instance deregistered")
    finally:
        http.close()


def test_heartbeat_instance_expires_on_the_server(live_server, sdk):
    token = live_server.admin_token()
    watcher = sdk()
    beat = {"ip": "10.3.1.1", "port": 7100, "serviceName": "DEFAULT_GROUP@@expiring", "cluster": "DEFAULT",
            "metadata": {"preserved.heart.beat.timeout": "1000", "preserved.ip.delete.timeout": "2000"}}
    r = requests.put(live_server.url + "/nacos/v1/ns/instance/beat",
                     params={"accessToken": token, "serviceName": "DEFAULT_GROUP@@expiring",
                             "beat": json.dumps(beat)}, timeout=5)
    assert r.json()["code"] == 10200
    wait_for(lambda: len(watcher.instances("expiring", healthy_only=False)) == 1, message="registered by beat")
    wait_for(lambda: watcher.instances("expiring", healthy_only=False) == [], timeout=10,
             message="removed by the server's timers once beats stop")
