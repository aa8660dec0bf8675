"""An HTTPS front for kubectl.

kubectl (client-go) only sends a kubeconfig's credentials over TLS, and shipway
serves plain HTTP on 127.0.0.1. This component listens with TLS on
127.0.0.1:<port> (``SHIPWAY_ORCHESTRATOR_TLS_PORT``; by default a free port,
kept in the data dir across restarts) with a self-signed certificate made
once with ``openssl``, and relays the decrypted bytes to shipway's own HTTP
port. ``shipway kubeconfig`` embeds the certificate as the cluster's CA.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

from shipway.core import launcher
from shipway.orchestrator.network import accept_loop, pipe

log = logging.getLogger(__name__)


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not (cert.is_file() and key.is_file()):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "3650", "-subj", "/CN=shipway-orchestrator",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
        key.chmod(0o600)
    return cert, key


class TlsFront:
    """The HTTPS listener relaying to shipway's HTTP port (a component)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.dir = ctx.data_path / "orchestrator" / "tls"
        self.port: int | None = None
        self.sock: socket.socket | None = None
        self._closed = False

    def ca_data(self) -> str:
        cert, _ = ensure_certificate(self.dir)
        return base64.b64encode(cert.read_bytes()).decode()

    def start(self) -> None:
        cert, key = ensure_certificate(self.dir)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        port_file = self.dir / "port"
        wanted = int(os.environ.get("SHIPWAY_ORCHESTRATOR_TLS_PORT", "0") or 0)
        if not wanted and port_file.is_file():
            wanted = int(port_file.read_text().strip() or 0)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound = False
        for _ in range(20 if wanted else 0):  # the previous server may still be closing the port
            try:
                self.sock.bind(("127.0.0.1", wanted))
                bound = True
                break
            except OSError:
                time.sleep(0.25)
        if not bound:
            self.sock.bind(("127.0.0.1", launcher.free_port()))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        port_file.write_text(str(self.port))
        accept_loop(self.sock, self._serve, "orchestrator-tls")
        log.info("Kubernetes API over TLS on https://127.0.0.1:%s/k8s", self.port)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            tls = self.context.wrap_socket(conn, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        s = self.ctx.settings
        host = s.host if s.host not in ("0.0.0.0", "", "::") else "127.0.0.1"
        try:
            up = socket.create_connection((host, s.port), timeout=5)
            up.settimeout(None)
        except OSError:
            tls.close()
            return
        pipe(tls, up)

    def stop(self) -> None:
        self._closed = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
