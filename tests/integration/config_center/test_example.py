"""examples/config-reload reloads its settings on the fly (ZooKeeper mode) and ignores a bad value."""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.request
from pathlib import Path

import pytest

from shipway.config_center import ConfigClient
from support.waiting import wait_for

pytestmark = pytest.mark.zookeeper

APP = Path(__file__).resolve().parents[3] / "examples" / "config-reload" / "app.py"


def _load():
    spec = importlib.util.spec_from_file_location("config_reload_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_reloads_on_the_fly(config, zk_hosts, tmp_path):
    example = _load()
    config.publish("public", "DEFAULT_GROUP", "greeting.yaml", "greeting: hello\nmax_requests_per_minute: 60\n",
                   "yaml", author="t")
    settings = example.Settings()
    server = example.serve(settings, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"

    def served():
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    try:
        with ConfigClient(zk=zk_hosts, snapshot_dir=tmp_path / "snap") as client:
            client.watch("greeting.yaml", "DEFAULT_GROUP", settings.on_change)
            wait_for(lambda: served()["config_version"] == 1, 10, message="first settings")
            config.publish("public", "DEFAULT_GROUP", "greeting.yaml",
                           "greeting: hi there\nmax_requests_per_minute: 120\n", "yaml", author="t")
            wait_for(lambda: served()["greeting"] == "hi there", 10, message="reloaded greeting")
            assert served()["max_requests_per_minute"] == 120
            config.publish("public", "DEFAULT_GROUP", "greeting.yaml", "max_requests_per_minute: lots\n", "yaml",
                           author="t")
            config.publish("public", "DEFAULT_GROUP", "greeting.yaml", "greeting: last\n", "yaml", author="t")
            wait_for(lambda: served()["greeting"] == "last", 10, message="next valid version applied")
            assert served()["config_version"] == 4
    finally:
        server.shutdown()
