"""A real ``shipway serve`` for a benchmark (not a benchmark itself), shared by the config and registry ones.

:class:`Serve` starts ``python -m shipway serve`` in its own temporary data dir under /tmp, with its own
supervised local ZooKeeper on a free port (so SDK processes and the raw kazoo reference use the very same
ZooKeeper), creates an admin token, and stops it all at the end (its data dir and log are kept when the
benchmark failed).
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
    """The ``p``-th percentile (nearest rank) of ``values``; NaN for none."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Serve:
    """``shipway serve`` + its local ZooKeeper: ``url``, ``port``, ``zk``, ``token``; a context manager.

    ``registry``: the image registry setting (``""``: its own supervised one, as ``make run`` does;
    ``"127.0.0.1:1"``: none, for benchmarks that never push an image)."""

    def __init__(self, name: str = "bench", *, registry: str = "127.0.0.1:1") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"shipway-bench-{name}-", dir="/tmp"))
        self.port, self.zk_port = launcher.free_port(), launcher.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.zk = f"127.0.0.1:{self.zk_port}"
        self.env = {**os.environ, "SHIPWAY_DATA_DIR": str(self.dir), "SHIPWAY_PORT": str(self.port),
                    "SHIPWAY_ZK": "", "SHIPWAY_ZK_PORT": str(self.zk_port), "SHIPWAY_REGISTRY": registry,
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
                raise RuntimeError(f"shipway serve exited:\n{(self.dir / 'serve.log').read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("shipway serve did not come up within 90 s")
            time.sleep(0.1)
        out = subprocess.run([sys.executable, "-m", "shipway", "token", "create", "admin", "--name", "bench"],
                             env=self.env, capture_output=True, text=True, check=True)
        self.token = out.stdout.strip()
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def session(self) -> requests.Session:
        s = requests.Session()
        s.headers.update(self.auth)
        return s

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
        if exc and exc[0] is not None:  # keep the evidence of a failed run
            print(f"(shipway serve's data dir and log kept in {self.dir})", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
