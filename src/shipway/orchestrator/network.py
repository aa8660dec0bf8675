"""The project's Docker bridge network and the TCP forwarders that let pods reach shipway and ZooKeeper.

shipway and its local ZooKeeper listen on 127.0.0.1, which a container cannot
reach through ``host-gateway``. The agent binds small forwarders on the bridge's
gateway IP (reachable from every pod) that relay to those loopback ports, and
injects their addresses into every container as ``SHIPWAY_URL`` and
``SHIPWAY_ZK``.
"""

from __future__ import annotations

import logging
import socket
import threading

import docker.errors

log = logging.getLogger(__name__)
NETWORK = "shipway-orchestrator"


def ensure_network(client, name: str = NETWORK):
    """The project bridge network (created once, shared by every shipway on this engine)."""
    try:
        return client.networks.get(name)
    except docker.errors.NotFound:
        pass
    try:
        return client.networks.create(name, driver="bridge", labels={"org.shipway.orchestrator": "true"},
                                      check_duplicate=True)
    except docker.errors.APIError:
        return client.networks.get(name)  # created by a racing process


def gateway_ip(network) -> str:
    network.reload()
    for cfg in (network.attrs.get("IPAM") or {}).get("Config") or []:
        if cfg.get("Gateway"):
            return cfg["Gateway"]
    raise RuntimeError(f"network {network.name} has no gateway address")


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    def one(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    s.shutdown(how)
                except OSError:
                    pass

    t = threading.Thread(target=one, args=(b, a), daemon=True)
    t.start()
    one(a, b)
    t.join()
    a.close()
    b.close()


def listen(host: str, port: int = 0, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 = any free one)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def accept_loop(sock: socket.socket, handle, name: str) -> threading.Thread:
    """Accept connections on ``sock`` until it is closed; each is handled by ``handle(conn)`` in its own thread."""

    def loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # the socket was closed: stop accepting
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


class Forwarder:
    """Listen on ``bind`` (host, port 0 = any) and relay every connection to ``target``."""

    def __init__(self, bind_host: str, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.sock = listen(bind_host, port)
        self.address = self.sock.getsockname()
        self._closed = False
        accept_loop(self.sock, self._serve, f"forward-{self.address[1]}")

    def _serve(self, conn: socket.socket) -> None:
        try:
            up = socket.create_connection(self.target, timeout=5)
            up.settimeout(None)
        except OSError:
            conn.close()
            return
        pipe(conn, up)

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
