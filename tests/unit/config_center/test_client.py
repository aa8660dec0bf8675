"""ConfigClient's dispatcher with a fake transport: order, once, never stale, failing callbacks, snapshot."""

from __future__ import annotations

import logging
import threading

from shipway.config_center import ConfigClient, ConfigValue
from support.waiting import wait_for

KEY = ("public", "DEFAULT_GROUP", "app")


class FakeTransport:
    """Serves whatever ``values`` holds; ``up`` False makes every read fail."""

    def __init__(self, owner, up: bool = True) -> None:
        self.owner = owner
        self.up = up
        self.values: dict = {}
        self.fetches = 0

    def describe(self):
        return "fake server"

    def start(self, timeout):
        return self.up

    def connected(self):
        return self.up

    def stop(self):
        pass

    def watch_added(self, key):
        pass

    def fetch(self, key, *, watch):
        self.fetches += 1
        if not self.up:
            raise ConnectionError("down")
        return self.values.get(key)

    def set(self, key, version, content, *, beta=False):
        self.values[key] = ConfigValue(*key, content, f"md5-{content}", version, "text", beta)
        self.owner.refresh(key)


def _client(tmp_path, up=True):
    c = ConfigClient(url="http://fake", snapshot_dir=tmp_path / "snap", connect_timeout=0.1)
    c.transport = FakeTransport(c, up)
    return c


class Rec:
    def __init__(self, fail=False):
        self.values, self.fail, self.lock = [], fail, threading.Lock()

    def __call__(self, v):
        with self.lock:
            self.values.append(v)
        if self.fail:
            raise RuntimeError("boom")


def test_order_once_never_stale(tmp_path, caplog):
    c = _client(tmp_path)
    t = c.transport
    t.values[KEY] = ConfigValue(*KEY, "v1", "m1", 1)
    c.start()
    good, bad = Rec(), Rec(fail=True)
    c.watch("app", callback=good)
    c.watch("app", callback=bad)
    wait_for(lambda: len(good.values) == 1 and len(bad.values) == 1, 5, message="initial values")
    t.set(KEY, 3, "v3")
    wait_for(lambda: good.values[-1].version == 3, 5, message="v3")
    t.set(KEY, 2, "v2")  # stale: never delivered after v3
    t.set(KEY, 3, "v3")  # same again: not delivered twice
    t.set(KEY, 3, "beta", beta=True)  # a beta switch at the same version is delivered
    wait_for(lambda: good.values[-1].content == "beta", 5, message="beta switch")
    t.values.pop(KEY)
    c.refresh(KEY)
    wait_for(lambda: good.values[-1].content is None, 5, message="deletion")
    assert [v.version for v in good.values] == [1, 3, 3, 3]
    assert [v.content for v in good.values] == ["v1", "v3", "beta", None]
    assert [v.content for v in bad.values] == [v.content for v in good.values]  # it kept getting values
    assert "callback" in caplog.text and "boom" in caplog.text
    c.close()


def test_snapshot_when_down_then_catch_up(tmp_path, caplog):
    first = _client(tmp_path)
    first.transport.values[KEY] = ConfigValue(*KEY, "from-server", "m", 4)
    first.start()
    assert first.get("app") == "from-server"
    first.close()
    caplog.set_level(logging.WARNING, logger="shipway.config_center.client")
    c = _client(tmp_path, up=False)
    c.start()
    assert c.serving_snapshot and "serving snapshot values" in caplog.text
    assert c.get("app") == "from-server"  # unwatched read falls back to the snapshot
    rec = Rec()
    c.watch("app", callback=rec)
    wait_for(lambda: rec.values and rec.values[0].content == "from-server", 5, message="snapshot value")
    c.transport.up = True
    c.transport.values[KEY] = ConfigValue(*KEY, "newer", "m2", 5)
    c.back_online()
    wait_for(lambda: rec.values[-1].content == "newer", 5, message="caught up")
    assert not c.serving_snapshot and "reachable again" in caplog.text
    assert c.get_value("app").version == 5
    c.close()


def test_typed_getters(tmp_path):
    c = _client(tmp_path)
    c.transport.values[("public", "DEFAULT_GROUP", "j")] = ConfigValue("public", "DEFAULT_GROUP", "j", '{"a": [1]}')
    c.transport.values[("public", "DEFAULT_GROUP", "y")] = ConfigValue("public", "DEFAULT_GROUP", "y", "a: {b: 2}")
    c.transport.values[("public", "DEFAULT_GROUP", "p")] = ConfigValue("public", "DEFAULT_GROUP", "p", "k = v")
    c.start()
    assert c.get_json("j") == {"a": [1]} and c.get_yaml("y") == {"a": {"b": 2}}
    assert c.get_properties("p") == {"k": "v"} and c.get("missing") is None and c.get_json("missing") is None
    c.close()
