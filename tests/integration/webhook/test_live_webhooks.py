"""Webhooks through a real `shipway serve` (gevent server, real store, ZooKeeper) and the real CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.zookeeper, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"


def _sig(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def served(live_server, git_repo):
    """A live server with project 'demo' added through the CLI; yields (server, secret, headers, repo)."""
    token = live_server.admin_token()
    out = subprocess.run([sys.executable, "-m", "shipway", "project", "add", "demo", git_repo.url,
                          "--branch", "main", "--url", live_server.url, "--token", token],
                         capture_output=True, text=True, env=live_server.env, timeout=60)
    assert out.returncode == 0, out.stderr
    secret = re.search(r"webhook secret \(shown only now\): (\S+)", out.stdout).group(1)
    assert f"{live_server.url}/webhooks/github/demo" in out.stdout
    yield live_server, secret, {"Authorization": f"Bearer {token}"}, git_repo


def test_ping_bad_signature_oversize_and_log(served):
    server, secret, auth, _ = served
    url = server.url + "/webhooks/github/demo"
    ping = json.dumps({"zen": "hi", "hook_id": 1}).encode()
    r = requests.post(url, data=ping, timeout=10, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "ping", "X-GitHub-Delivery": "p1",
        "X-Hub-Signature-256": "sha256=" + _sig(secret, ping)})
    assert r.status_code == 200 and r.json()["status"] == "pong"

    body = (FIXTURES / "github-push.json").read_bytes()
    r = requests.post(url, data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "bad",
        "X-Hub-Signature-256": "sha256=" + _sig("wrong-secret", body)})
    assert r.status_code == 401

    big = b'{"pad":"' + b"x" * (6 * 1024 * 1024) + b'"}'
    r = requests.post(url, data=big, timeout=30, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "big",
        "X-Hub-Signature-256": "sha256=" + _sig(secret, big)})
    assert r.status_code == 413

    r = requests.post(server.url + "/webhooks/gitea/demo", data=b"{not json", timeout=10, headers={
        "Content-Type": "application/json", "X-Gitea-Event": "push",
        "X-Gitea-Signature": _sig(secret, b"{not json")})
    assert r.status_code == 400

    log = requests.get(server.url + "/api/v1/projects/demo/deliveries", headers=auth, timeout=10).json()["items"]
    assert [d["status"] for d in log] == ["invalid", "too_large", "rejected", "ignored"]
    assert secret not in server.log.read_text(errors="replace")
    assert requests.get(server.url + "/api/v1/projects/demo", timeout=10).status_code == 401


def test_signed_push_of_a_real_commit(served):
    """A generic-hook push of a real commit answers at once with a queued run of the real pipelines part."""
    server, secret, auth, repo = served
    sha = repo.commit({"app.py": "print('hi')\n"}, "add app; $(touch /tmp/shipway-pwned)")
    repo.push()
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "changed_paths": ["app.py"],
                       "message": "add app; $(touch /tmp/shipway-pwned)"}).encode()
    headers = {"Content-Type": "application/json", "X-Shipway-Delivery": str(uuid.uuid4()),
               "X-Shipway-Signature": "sha256=" + _sig(secret, body)}
    r = requests.post(server.url + "/webhooks/generic/demo", data=body, headers=headers, timeout=10)
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["status"] == "queued" and first["run_url"]
    again = requests.post(server.url + "/webhooks/generic/demo", data=body, headers=headers, timeout=10)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert again.json()["run_url"] == first["run_url"]
    run = requests.get(f"{server.url}/api/v1/runs/{first['runs'][0]['id']}", headers=auth, timeout=10).json()
    assert run["commit"] == sha and run["branch"] == "main" and run["trigger"] == "push"
    runs = requests.get(server.url + "/api/v1/runs?project=demo", headers=auth, timeout=10).json()["runs"]
    assert len(runs) == 1
    log = requests.get(server.url + "/api/v1/projects/demo/deliveries", headers=auth, timeout=10).json()["items"]
    assert [d["status"] for d in log] == ["duplicate", "queued"]
    assert not Path("/tmp/shipway-pwned").exists()
