"""Local-service launcher: clear errors for what is missing, free ports."""

import pytest

from shipway.core import launcher
from shipway.core.errors import ConfigurationError


def test_missing_java_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java anywhere
    with pytest.raises(ConfigurationError, match="Java is not installed"):
        launcher.zookeeper(tmp_path / "zk", 2181, jar="/usr/share/java/zookeeper.jar")


def test_missing_zookeeper_jar_names_it(tmp_path):
    with pytest.raises(ConfigurationError, match=r"ZooKeeper is not installed \(/nope.jar missing\)"):
        launcher.zookeeper(tmp_path / "zk", 2181, jar="/nope.jar")


def test_missing_registry_binary_names_it(tmp_path):
    with pytest.raises(ConfigurationError, match="registry is not installed"):
        launcher.registry(tmp_path / "reg", 5000, binary="/nope/docker-registry")


def test_free_port_is_free():
    port = launcher.free_port()
    assert 0 < port < 65536 and not launcher.port_open("127.0.0.1", port)


def test_zookeeper_config_allows_short_sessions(tmp_path):
    sup = launcher.zookeeper(tmp_path / "zk", 12345, jar="/usr/share/java/zookeeper.jar")
    cfg = (tmp_path / "zk" / "zoo.cfg").read_text()
    assert "minSessionTimeout=1000" in cfg and "admin.enableServer=false" in cfg and "clientPort=12345" in cfg
    assert sup.pid_file == tmp_path / "zk" / "zookeeper.pid"
