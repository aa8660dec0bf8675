"""`shipway serve` as `make run` starts it: supervised ZooKeeper and registry, readiness, shutdown."""

import os
import signal

import pytest
import requests

from support.server import LiveServer
from support.waiting import wait_for

pytestmark = [pytest.mark.zookeeper, pytest.mark.docker, pytest.mark.slow]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().split()[2] != "Z"


@pytest.fixture
def embedded(tmp_path):
    server = LiveServer(tmp_path / "embedded")
    server.start()
    yield server
    server.stop()


def test_embedded_defaults_ready_and_admin_printed(embedded):
    r = requests.get(embedded.url + "/readyz", timeout=10)
    assert r.status_code == 200, r.text
    assert all(c["ok"] for c in r.json()["checks"].values())
    assert embedded.admin_password
    token = embedded.admin_token()
    who = requests.get(embedded.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert who.json()["role"] == "admin"


def test_kill_9_zookeeper_is_restarted_and_reconnected(embedded):
    old = embedded.child_pid("zookeeper")
    os.kill(old, signal.SIGKILL)
    seen_down = wait_for(lambda: requests.get(embedded.url + "/readyz", timeout=10).status_code == 503
                         or embedded.child_pid("zookeeper") != old, 15, interval=0.02,
                         message="readyz to report ZooKeeper down (or a restart)")
    assert seen_down
    wait_for(lambda: requests.get(embedded.url + "/readyz", timeout=10).status_code == 200, 45,
             interval=0.2, message="ZooKeeper back and shipway reconnected")
    assert embedded.child_pid("zookeeper") != old
    assert embedded.proc.poll() is None  # shipway itself never restarted


def test_ctrl_c_stops_children(embedded):
    zk_pid, reg_pid = embedded.child_pid("zookeeper"), embedded.child_pid("registry")
    assert embedded.stop(signal.SIGINT) == 0
    wait_for(lambda: not _pid_alive(zk_pid) and not _pid_alive(reg_pid), 15, message="children gone")


def test_kill_9_of_shipway_leaves_no_orphans(embedded):
    zk_pid, reg_pid = embedded.child_pid("zookeeper"), embedded.child_pid("registry")
    embedded.proc.kill()
    embedded.proc.wait()
    wait_for(lambda: not _pid_alive(zk_pid) and not _pid_alive(reg_pid), 15, message="children die with parent")


def test_port_in_use_is_one_clear_line(tmp_path, embedded):
    clash = LiveServer(tmp_path / "clash", env={"SHIPWAY_PORT": str(embedded.port)})
    with pytest.raises(AssertionError) as e:
        clash.start(timeout=20)
    assert "already in use" in str(e.value) and "Traceback" not in str(e.value)


def test_readyz_with_external_services(live_server):
    r = requests.get(live_server.url + "/readyz", timeout=10)
    assert r.status_code == 200, r.text


def test_request_headers_are_read_strictly_by_the_real_server(live_server):
    """The server's own header reader (server/wsgi_headers.py) answers good requests and 400s bad blocks."""
    import socket
    from urllib.parse import urlsplit

    port = urlsplit(live_server.url).port

    def exchange(raw: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(raw)
            return s.recv(65536)

    good = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n  def\r\nConnection: close\r\n\r\n")
    assert good.startswith(b"HTTP/1.1 200") and b"X-Request-Id: abc def" in good
    assert exchange(b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert exchange(b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n").startswith(b"HTTP/1.1 400")
