"""Restart safety against a real `shipway serve`: kill -9, restart on the same data dir.

A run waiting for approval is still waiting and approvable afterwards and then finishes; a run that was
executing a step is marked interrupted; a run still queued when shipway was killed runs after the restart.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from support.server import LiveServer
from support.waiting import wait_for

PIPELINE = """
stages:
  - name: first
    steps: [{run: echo first-stage}]
  - name: gate
    kind: approve
    message: Continue after the restart?
  - name: last
    steps: [{run: echo "after-approval $INPUT_NOTE"}]
"""
SLOW = """
stages:
  - name: slow
    steps: [{run: 'echo sleeping; sleep 120'}]
"""


def _api(server):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.admin_token()}"
    return s


def _status(s, server, run_id):
    return s.get(f"{server.url}/api/v1/runs/{run_id}", timeout=5).json()


@pytest.mark.zookeeper
@pytest.mark.slow
def test_waiting_approval_and_running_run_survive_kill_9(tmp_path, zk_hosts, registry_server, git_repo):
    # two slots: the waiting run and the running one hold them, so a third run stays queued across the kill
    live_server = LiveServer(tmp_path / "serve", zk=zk_hosts, registry=registry_server,
                             env={"SHIPWAY_PIPELINE_SLOTS": "2"}).start()
    try:
        _scenario(live_server, git_repo)
    finally:
        live_server.stop()


def _scenario(live_server, git_repo):
    git_repo.commit({".shipway.yml": PIPELINE}, "pipeline")
    git_repo.push()
    git_repo.repo.git.checkout("-b", "slow")
    git_repo.commit({".shipway.yml": SLOW}, "slow pipeline")
    git_repo.push("slow")
    s = _api(live_server)
    r = s.post(f"{live_server.url}/api/v1/projects", json={"name": "app", "repo_url": git_repo.url,
                                                           "branches": ["main", "slow"]}, timeout=10)
    assert r.status_code in (200, 201), r.text
    gate = s.post(f"{live_server.url}/api/v1/runs", json={"project": "app", "branch": "main"}, timeout=10).json()
    slow = s.post(f"{live_server.url}/api/v1/runs", json={"project": "app", "branch": "slow"}, timeout=10).json()
    wait_for(lambda: _status(s, live_server, gate["id"])["status"] == "waiting-for-approval", 60,
             message="run waiting for approval")
    wait_for(lambda: "sleeping" in s.get(f"{live_server.url}/api/v1/runs/{slow['id']}/logs?format=text",
                                         timeout=5).text, 60, message="slow step running")

    queued = s.post(f"{live_server.url}/api/v1/runs", json={"project": "app", "branch": "main"}, timeout=10).json()
    assert _status(s, live_server, queued["id"])["status"] == "queued"

    live_server.stop(signal.SIGKILL)
    live_server.start()
    s = _api(live_server)

    assert _status(s, live_server, gate["id"])["status"] == "waiting-for-approval"
    wait_for(lambda: _status(s, live_server, slow["id"])["status"] == "interrupted", 60,
             message="the killed run marked interrupted")
    # the gate is adopted by the new executor once the old session expired; approving works in any case
    env = dict(live_server.env, SHIPWAY_URL=live_server.url, SHIPWAY_TOKEN=live_server.admin_token())
    cli = [sys.executable, "-m", "shipway"]
    out = subprocess.run([*cli, "approve", str(gate["id"]), "gate", "-m", "after restart", "--input", "x=1"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "unknown input" in out.stderr, out  # inputs are checked
    out = subprocess.run([*cli, "approve", str(gate["id"]), "gate", "-m", "after restart"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "approved by admin" in out.stdout, out
    done = wait_for(lambda: (d := _status(s, live_server, gate["id"]))["status"] in ("succeeded", "failed") and d, 60,
                    message="approved run finishes after the restart")
    assert done["status"] == "succeeded", done
    log = s.get(f"{live_server.url}/api/v1/runs/{gate['id']}/logs?format=text", timeout=5).text
    assert "first-stage" in log and "after-approval" in log
    assert log.count("\nfirst-stage\n") == 1  # resumed at the stage boundary, not re-run from the start
    follow = subprocess.run([*cli, "run", "logs", "-f", str(gate["id"])], env=env, capture_output=True, text=True,
                            timeout=60)
    assert follow.returncode == 0 and "after-approval" in follow.stdout and "succeeded" in follow.stderr
    shown = subprocess.run([*cli, "run", "show", str(gate["id"])], env=env, capture_output=True, text=True,
                           timeout=60)
    assert "approval gate: approved by admin" in shown.stdout, shown.stdout
    wait_for(lambda: _status(s, live_server, queued["id"])["status"] == "waiting-for-approval", 60,
             message="the run queued before the kill runs after the restart")

    def cli_run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=60)

    started = cli_run("run", "start", "app", "--branch", "slow")
    assert started.returncode == 0 and "queued" in started.stdout, started
    new_id = started.stdout.split()[1]
    wait_for(lambda: _status(s, live_server, int(new_id))["status"] == "running", 60, message="CLI-started run")
    cancelled = cli_run("run", "cancel", new_id)
    assert cancelled.returncode == 0, cancelled
    wait_for(lambda: _status(s, live_server, int(new_id))["status"] == "aborted", 30, message="cancelled")
    again = cli_run("run", "rerun", str(gate["id"]))
    assert again.returncode == 0 and "queued" in again.stdout, again
    listed = cli_run("run", "list", "--project", "app")
    assert listed.returncode == 0 and "interrupted" in listed.stdout and "aborted" in listed.stdout, listed
    bad = cli_run("run", "start", "app", "--param", "nonsense")
    assert bad.returncode != 0
