"""``shipway serve`` killed with -9 during publishes and restarted on the same data dir: no acknowledged
version is lost; the SDK's HTTP long-poll mode against the real (gevent) server."""

from __future__ import annotations

import signal
import sqlite3
import threading

import pytest
import requests

from shipway.config_center import ConfigClient
from support.server import LiveServer
from support.waiting import wait_for

pytestmark = [pytest.mark.zookeeper, pytest.mark.slow]

URL = "/api/v1/configs/public/DEFAULT_GROUP/durable"


def test_kill_9_loses_no_acknowledged_version(tmp_path, zk_hosts, registry_server):
    data = tmp_path / "serve"
    server = LiveServer(data, zk=zk_hosts, registry=registry_server).start()
    token = server.admin_token()
    auth = {"Authorization": f"Bearer {token}"}
    acked: list[int] = []
    stop = threading.Event()

    def publish():
        i = 0
        s = requests.Session()
        while not stop.is_set():
            i += 1
            try:
                r = s.put(server.url + URL, json={"content": f"n={i}"}, headers=auth, timeout=5)
            except requests.RequestException:
                return
            if r.status_code in (200, 201):
                acked.append(r.json()["version"])

    t = threading.Thread(target=publish)
    try:
        t.start()
        wait_for(lambda: len(acked) >= 20, 30, message="20 acknowledged publishes")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        stop.set()
        t.join(10)
        server = LiveServer(data, zk=zk_hosts, registry=registry_server).start()
        server.token = token
        hist = requests.get(server.url + URL + "/history?size=500", headers=auth).json()
        versions = {h["version"] for h in hist["items"]}
        assert set(acked) <= versions, sorted(set(acked) - versions)
        current = requests.get(server.url + URL, headers=auth).json()
        assert current["version"] >= max(acked) and current["version"] == max(versions)
        # the restart's reconcile left no row undecided
        with sqlite3.connect(data / "shipway.db") as db:
            states = dict(db.execute("select state, count(*) from config_history group by state").fetchall())
        assert "pending" not in states, states
        # and the next publish continues the sequence
        nxt = requests.put(server.url + URL, json={"content": "after"}, headers=auth).json()
        assert nxt["version"] > current["version"]
    finally:
        stop.set()
        server.stop()


def test_sdk_http_long_poll_mode(live_server, tmp_path, recorder):
    token = live_server.admin_token()
    auth = {"Authorization": f"Bearer {token}"}
    requests.put(live_server.url + URL, json={"content": "1"}, headers=auth)
    c = ConfigClient(url=live_server.url, token=token, snapshot_dir=tmp_path / "snap", poll_timeout=30,
                     labels={"ring": "0"}).start()
    try:
        rec = recorder()
        c.watch("durable", "DEFAULT_GROUP", rec)
        wait_for(lambda: rec.values and rec.last.content == "1", 10, message="initial value over HTTP")
        for i in range(2, 6):
            requests.put(live_server.url + URL, json={"content": str(i)}, headers=auth)
        wait_for(lambda: rec.last.content == "5", 10, message="long poll delivers the last version")
        assert rec.versions == sorted(set(rec.versions))
        requests.put(live_server.url + URL + "/beta", json={"content": "canary", "labels": {"ring": "0"}},
                     headers=auth)
        wait_for(lambda: rec.last.content == "canary" and rec.last.beta, 10, message="beta by label over HTTP")
        assert c.get("durable") == "canary"
        # a watch added while a 30 s poll is in flight is listened to at once, not after the poll
        other = recorder()
        c.watch("other", "DEFAULT_GROUP", other)
        requests.put(live_server.url + "/api/v1/configs/public/DEFAULT_GROUP/other", json={"content": "o1"},
                     headers=auth)
        wait_for(lambda: other.values and other.last.content == "o1", 10, message="the new watch")
        requests.put(live_server.url + "/api/v1/configs/public/DEFAULT_GROUP/other", json={"content": "o2"},
                     headers=auth)
        wait_for(lambda: other.last.content == "o2", 10, message="the new watch's next version")
    finally:
        c.close()
