"""Supervised local services: a ZooKeeper server and an image registry as child processes.

:class:`Supervised` starts a child, waits until it answers, and restarts it
(with a capped back-off) whenever it dies, until :meth:`Supervised.stop`. The
child is asked to die with its parent (``PR_SET_PDEATHSIG``) so a ``kill -9``
of shipway leaves no orphan ``java``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from shipway.core.errors import ConfigurationError, Unavailable

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    os.setpgrp()  # a Ctrl-C in the terminal reaches shipway, which then stops the child in order


class Supervised:
    """A child process kept running until stopped.

    ``ready`` is polled after each start; :meth:`start` raises
    :class:`Unavailable` if the first start does not become ready in time.
    """

    def __init__(self, name: str, argv: list[str], *, log_file: Path, ready: Callable[[], bool],
                 cwd: Path | None = None, env: dict[str, str] | None = None,
                 start_timeout: float = 30.0) -> None:
        self.name = name
        self.argv = argv
        self.log_file = log_file
        self.ready = ready
        self.cwd = cwd
        self.env = env
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid_file(self) -> Path:
        """``<name>.pid`` beside the log: where operators and tests find the child."""
        return self.log_file.with_name(f"{self.name}.pid")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.cwd, env=self.env, preexec_fn=_die_with_parent)
        finally:
            out.close()
        self.pid_file.write_text(str(self.proc.pid))
        log.info("started %s (pid %d, log %s)", self.name, self.proc.pid, self.log_file)

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                return False
            if self.ready():
                return True
            time.sleep(0.1)
        return False

    def start(self) -> None:
        self._spawn()
        if not self._wait_ready(self.start_timeout):
            tail = _tail(self.log_file)
            self._terminate()
            raise Unavailable(f"{self.name} did not become ready within {self.start_timeout:.0f} s; "
                              f"see {self.log_file}", details={"log_tail": tail})
        self._thread = threading.Thread(target=self._supervise, name=f"supervise-{self.name}", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            assert self.proc is not None
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            log.warning("%s exited with %s; restarting in %.1f s", self.name, code, delay)
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            try:
                self._spawn()
            except OSError:
                log.exception("cannot restart %s", self.name)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.2 if self._wait_ready(self.start_timeout) else min(delay * 2, 10.0)

    def _terminate(self, grace: float = 10.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Stop supervising and end the child (SIGTERM, then SIGKILL after 10 s)."""
        self._stopping.set()
        self._terminate()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(5)
        self.pid_file.unlink(missing_ok=True)
        log.info("stopped %s", self.name)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def zookeeper(data_dir: Path, port: int, *, jar: str, host: str = "127.0.0.1") -> Supervised:
    """A standalone ZooKeeper 3.8 server with its data under ``data_dir``.

    tickTime is 500 ms so sessions as short as 1 s are allowed (fast failure
    detection for the registry); the AdminServer (Jetty on :8080) is off.
    """
    java = shutil.which("java")
    if java is None:
        raise ConfigurationError("Java is not installed; install a JRE (apt-get install default-jre-headless)")
    if not Path(jar).is_file():
        raise ConfigurationError(f"ZooKeeper is not installed ({jar} missing); run `make run` or "
                                 "apt-get install zookeeper")
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir / "zoo.cfg"
    cfg.write_text("\n".join([
        "tickTime=500", f"dataDir={data_dir / 'data'}", f"clientPort={port}", f"clientPortAddress={host}",
        "minSessionTimeout=1000", "maxSessionTimeout=60000", "maxClientCnxns=0",
        "admin.enableServer=false", "4lw.commands.whitelist=ruok,srvr,mntr,stat",
        "autopurge.snapRetainCount=3", "autopurge.purgeInterval=1", "",
    ]))
    classpath = f"{jar}:/usr/share/java/slf4j-simple.jar"
    argv = [java, "-Xmx512m", "-XX:+UseSerialGC", "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", classpath,
            "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)]
    return Supervised("zookeeper", argv, log_file=data_dir / "zookeeper.log",
                      ready=lambda: _zk_ruok(host, port), cwd=data_dir)


def _zk_ruok(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"ruok")
            return s.recv(4) == b"imok"
    except OSError:
        return False


def registry(data_dir: Path, port: int, *, binary: str, host: str = "127.0.0.1") -> Supervised:
    """A Distribution v2 registry (Debian's ``docker-registry``) storing under ``data_dir``."""
    if not Path(binary).is_file():
        raise ConfigurationError(f"the image registry is not installed ({binary} missing); run `make run` or "
                                 "apt-get install docker-registry")
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir / "config.yml"
    cfg.write_text("\n".join([
        "version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
        f"    rootdirectory: {data_dir / 'data'}", "  delete:", "    enabled: true",
        "http:", f"  addr: {host}:{port}", "  headers:", "    X-Content-Type-Options: [nosniff]", "",
    ]))
    return Supervised("registry", [binary, "serve", str(cfg)], log_file=data_dir / "registry.log",
                      ready=lambda: _registry_ok(host, port), cwd=data_dir)


def _registry_ok(host: str, port: int) -> bool:
    import http.client
    try:
        conn = http.client.HTTPConnection(host, port, timeout=1)
        conn.request("GET", "/v2/")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False
