"""A real ZooKeeper for the test session, a fresh chroot per test, and fault injection.

Modelled on kazoo's ``testing/harness.py``: one server per session, a chroot
per test, ``expire_session`` by closing a second client that shares the
session, ``lose_connection`` by cutting the client's socket.
"""

from __future__ import annotations

import os
import signal
import socket
import uuid
from pathlib import Path

from kazoo.client import KazooClient, KazooState

from shipway.core import launcher
from support.waiting import wait_for


class ZkServer:
    """The session's ZooKeeper (started with shipway's own launcher)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = launcher.free_port()
        self.proc = launcher.zookeeper(data_dir, self.port, jar="/usr/share/java/zookeeper.jar")

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc.start()

    def stop(self) -> None:
        self.proc.stop()

    def kill(self) -> None:
        """``kill -9`` the server; the supervisor restarts it."""
        pid = self.proc.pid
        assert pid
        os.kill(pid, signal.SIGKILL)

    def wait_serving(self, timeout: float = 30.0) -> None:
        wait_for(lambda: launcher._zk_ruok("127.0.0.1", self.port), timeout, message="ZooKeeper to answer")

    def restart(self) -> None:
        """Kill the server and wait until the supervisor has it serving again."""
        old = self.proc.pid
        self.kill()
        wait_for(lambda: self.proc.pid != old, 20, message="ZooKeeper restarted by its supervisor")
        self.wait_serving()


class ZkFaults:
    """Fault injection on kazoo clients."""

    def __init__(self, server: ZkServer) -> None:
        self.server = server

    def expire_session(self, client: KazooClient, timeout: float = 15.0) -> None:
        """Expire ``client``'s session: a second client joins it and closes it."""
        lost = []
        client.add_listener(lambda state: lost.append(state) if state == KazooState.LOST else None)
        session_id, password = client.client_id
        other = KazooClient(self.server.hosts, client_id=(session_id, password), timeout=2)
        other.start(timeout=10)
        other.stop()
        other.close()
        wait_for(lambda: lost, timeout, message="the session to expire")

    def lose_connection(self, client: KazooClient) -> None:
        """Cut the client's TCP connection (it reconnects, keeping its session)."""
        sock = client._connection._socket  # noqa: SLF001 - fault injection needs the socket
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)


def new_chroot() -> str:
    return f"/test-{uuid.uuid4().hex[:12]}"
