"""The Docker Engine restarted under running pods: the node agent brings them back."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import docker
import pytest
import requests

from support.waiting import wait_for

from .conftest import web_manifest

pytestmark = [pytest.mark.zookeeper, pytest.mark.docker, pytest.mark.slow]


def _engine_answers() -> bool:
    client = docker.from_env(timeout=5)
    try:
        return bool(client.ping())
    finally:
        client.close()


def restart_engine() -> None:
    """Restart dockerd as it was started: SIGTERM, wait for it to exit, relaunch with the same argv and log.

    The test suite's engine is the one `make test` started (scripts/setup.sh); on a machine where systemd
    manages Docker, systemd restarts it.
    """
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "restart", "docker"], check=True, timeout=120)
    else:
        pids = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
        assert len(pids) == 1, f"expected one dockerd, found {pids}"
        pid = int(pids[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        log = os.readlink(f"/proc/{pid}/fd/1")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 60, message="dockerd to stop")
        out = open(log if log.startswith("/") else os.devnull, "ab")
        subprocess.Popen([a.decode() for a in argv], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
        out.close()
    wait_for(_engine_answers, 60, interval=0.2, message="the Docker Engine to answer again")


def test_docker_engine_restarted_pods_come_back(kube):
    kube.kubectl("apply", "-f", "-", input=web_manifest(replicas=2))
    kube.wait_rollout("web")
    port = kube.get("/api/v1/namespaces/default/services/web")["spec"]["ports"][0]["nodePort"]
    url = f"http://127.0.0.1:{port}/index.html"
    assert requests.get(url, timeout=5).text.strip() == "hello v1"

    restart_engine()

    def back() -> bool:
        if len(kube.ready_pods("app=web")) != 2:
            return False
        return requests.get(url, timeout=3).text.strip() == "hello v1"

    wait_for(back, 120, interval=0.5, message="both pods ready and the Service answering after the engine restart")
