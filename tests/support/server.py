"""A real ``shipway serve`` process for integration and end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from shipway.core import launcher
from support.waiting import GiveUp, wait_for


class LiveServer:
    """``shipway serve`` in a subprocess with its own data dir.

    With ``zk``/``registry`` empty it runs its own supervised ones (as
    ``make run`` does); otherwise it uses the given ones.
    """

    def __init__(self, data_dir: Path, *, zk: str = "", registry: str = "", env: dict | None = None) -> None:
        self.data_dir = data_dir
        self.port = launcher.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SHIPWAY_DATA_DIR": str(data_dir), "SHIPWAY_PORT": str(self.port),
                    "SHIPWAY_ZK": zk, "SHIPWAY_REGISTRY": registry, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = data_dir / "serve.log"
        self.admin_password: str | None = None
        self.token: str | None = None

    def start(self, timeout: float = 60.0) -> "LiveServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "shipway", "serve"], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        wait_for(self._up, timeout, interval=0.1, message=f"shipway serve on {self.url} (log {self.log})")
        text = self.log.read_text(errors="replace")
        for line in text.splitlines():
            if "with password" in line:
                self.admin_password = line.rsplit(None, 1)[-1]
        return self

    def _up(self) -> bool:
        if self.proc and self.proc.poll() is not None:
            raise GiveUp(f"shipway serve exited with {self.proc.returncode}:\n"
                                 f"{self.log.read_text(errors='replace')[-3000:]}")
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def admin_token(self) -> str:
        """A bearer token for ``admin`` created through the CLI on the same data dir."""
        if self.token is None:
            out = subprocess.run([sys.executable, "-m", "shipway", "token", "create", "admin", "--name", "tests"],
                                 env=self.env, capture_output=True, text=True, check=True)
            self.token = out.stdout.strip()
        return self.token

    def registry_address(self) -> str:
        """``host:port`` of the registry this server uses (its own local one unless one was given)."""
        if self.env.get("SHIPWAY_REGISTRY"):
            return self.env["SHIPWAY_REGISTRY"]
        import re
        found = re.search(r"registry (127\.0\.0\.1:\d+) \(local\)", self.log.read_text(errors="replace"))
        assert found, "the server did not print its registry address"
        return found.group(1)

    def child_pid(self, name: str) -> int:
        return int((self.data_dir / name / f"{name}.pid").read_text())

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
