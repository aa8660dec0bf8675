"""Shared plumbing of the config benchmarks: a real ``shipway serve`` with its own local ZooKeeper.

``Serve`` starts ``python -m shipway serve`` in a temp data dir under /tmp with a supervised local
ZooKeeper on a chosen free port (so SDK processes and the raw kazoo reference use the very same
ZooKeeper), creates an admin token, and stops everything at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from shipway.core import launcher


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(ms: list[float]) -> str:
    if not ms:
        return "no samples"
    return (f"p50 {pct(ms, 50):7.2f} ms  p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms  "
            f"mean {statistics.fmean(ms):7.2f} ms  (n={len(ms)})")


class Serve:
    """``shipway serve`` + its local ZooKeeper in /tmp; use as a context manager."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="shipway-bench-config-", dir="/tmp"))
        self.port = launcher.free_port()
        self.zk_port = launcher.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.zk = f"127.0.0.1:{self.zk_port}"
        self.env = {**os.environ, "SHIPWAY_DATA_DIR": str(self.dir), "SHIPWAY_PORT": str(self.port),
                    "SHIPWAY_ZK": "", "SHIPWAY_ZK_PORT": str(self.zk_port), "SHIPWAY_REGISTRY": "127.0.0.1:1",
                    "SHIPWAY_LOG_LEVEL": "warning"}
        self.proc: subprocess.Popen | None = None
        self.token = ""

    def __enter__(self) -> "Serve":
        log = open(self.dir / "serve.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "shipway", "serve"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"shipway serve exited:\n{(self.dir / 'serve.log').read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("shipway serve did not start within 90 s")
            time.sleep(0.1)
        out = subprocess.run([sys.executable, "-m", "shipway", "token", "create", "admin", "--name", "bench"],
                             env=self.env, capture_output=True, text=True, check=True)
        self.token = out.stdout.strip()
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
