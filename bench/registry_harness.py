"""Shared plumbing of the registry benchmarks (not a benchmark itself).

:class:`Serve` starts a real ``shipway serve`` in its own temporary data dir with its own supervised
local ZooKeeper (and registry) on free ports, creates an admin token, and stops it all at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from shipway.core import launcher  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Serve:
    """``shipway serve`` for a benchmark: ``url``, ``token``, ``zk`` (host:port of its local ZooKeeper)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="shipway-bench-registry-"))
        self.port, zk_port = launcher.free_port(), launcher.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.zk = f"127.0.0.1:{zk_port}"
        self.env = {**os.environ, "SHIPWAY_DATA_DIR": str(self.dir), "SHIPWAY_PORT": str(self.port),
                    "SHIPWAY_ZK": "", "SHIPWAY_ZK_PORT": str(zk_port), "SHIPWAY_REGISTRY": "",
                    "SHIPWAY_LOG_LEVEL": "warning"}
        self.proc: subprocess.Popen | None = None
        self.token = ""

    def __enter__(self) -> "Serve":
        log = open(self.dir / "serve.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "shipway", "serve"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shipway serve exited:\n{(self.dir / 'serve.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("shipway serve did not come up within 90 s")
            time.sleep(0.2)
        out = subprocess.run([sys.executable, "-m", "shipway", "token", "create", "admin", "--name", "bench"],
                             env=self.env, capture_output=True, text=True, check=True)
        self.token = out.stdout.strip()
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if exc and exc[0] is not None:  # keep the evidence of a failed run
            print(f"(shipway serve's data dir and log kept in {self.dir})", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def session(self) -> requests.Session:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.token}"
        return s


def http_call(port: int, method: str, path: str, body: str | None = None, token: str = "") -> tuple[int, bytes]:
    """One request on a fresh connection (a short-lived client; also immune to any keep-alive quirk)."""
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class KeepAlive:
    """One kept-alive HTTP/1.1 connection driven with ``http.client`` (a light client: the figures
    measure the server, not the client library; ``requests`` costs about a millisecond per call)."""

    def __init__(self, port: int, token: str = "") -> None:
        import http.client
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.token = token

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self) -> None:
        self.conn.close()


def form(**values) -> str:
    from urllib.parse import urlencode
    return urlencode(values)
