"""The whole chain on a live `shipway serve` with its real orchestrator: fetch → build → push → deploy,
then a broken release whose rollout never becomes ready → automatic rollback and a failed stage."""

from __future__ import annotations

import requests
import pytest

from support.server import LiveServer
from support.waiting import wait_for

PIPELINE = """
stages:
  - {name: fetch, kind: fetch}
  - name: build
    kind: build
    image: pipelines-deploy/web
    tags: ["{commit_short}"]
  - {name: push, kind: push}
  - name: deploy
    kind: deploy
    manifests: [k8s/]
    container: web
    rollout_timeout: 25s
"""
MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pweb
  labels: {app: pweb}
spec:
  replicas: 1
  selector:
    matchLabels: {app: pweb}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: pweb}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: placeholder
        readinessProbe:
          httpGet: {path: /index.html, port: 8080}
          periodSeconds: 1
"""
GOOD = 'FROM shipway/busybox:latest\nCOPY index.html /www/index.html\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
BROKEN = 'FROM shipway/busybox:latest\nCMD ["sleep", "3600"]\n'


def _run(s, server, branch_commit: str) -> dict:
    run = s.post(f"{server.url}/api/v1/runs", json={"project": "web", "branch": "main", "commit": branch_commit},
                 timeout=10).json()
    return wait_for(lambda: (d := s.get(f"{server.url}/api/v1/runs/{run['id']}", timeout=10).json())["status"]
                    in ("succeeded", "failed", "aborted", "timed-out", "interrupted") and d, 240,
                    message=f"run {run['id']} finished")


def start_server(tmp_path, zk_hosts, registry_server, docker_tracker) -> tuple[LiveServer, requests.Session]:
    """A live server whose pods carry the tracker's labels, and an admin session on it."""
    labels = ",".join(f"{k}={v}" for k, v in docker_tracker.labels.items())
    server = LiveServer(tmp_path / "serve", zk=zk_hosts, registry=registry_server,
                        env={"SHIPWAY_ORCHESTRATOR_LABELS": labels}).start()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.admin_token()}"
    return server, s


def _log(s, server, run_id) -> str:
    return s.get(f"{server.url}/api/v1/runs/{run_id}/logs?format=text", timeout=10).text


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.zookeeper
@pytest.mark.slow
def test_deploy_then_failed_rollout_rolls_back(tmp_path, zk_hosts, registry_server, docker_tracker, git_repo):
    server, s = start_server(tmp_path, zk_hosts, registry_server, docker_tracker)
    try:
        good = git_repo.commit({".shipway.yml": PIPELINE, "Dockerfile": GOOD, "index.html": "v1\n",
                                "k8s/app.yaml": MANIFEST}, "good release")
        git_repo.push()
        assert s.post(f"{server.url}/api/v1/projects", json={"name": "web", "repo_url": git_repo.url,
                                                             "branches": ["main"]}, timeout=10).ok
        first = _run(s, server, good)
        log = _log(s, server, first["id"])
        assert first["status"] == "succeeded", log
        deploy = next(st for st in first["stages"] if st["name"] == "deploy")
        good_image = deploy["detail"]["image"]
        assert good_image.startswith(registry_server + "/pipelines-deploy/web:")
        dep = s.get(f"{server.url}/k8s/apis/apps/v1/namespaces/default/deployments/pweb", timeout=10).json()
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == good_image
        for st in first["stages"]:
            for ref in st["detail"].get("refs") or []:
                docker_tracker.track_image(ref)

        broken = git_repo.commit({"Dockerfile": BROKEN}, "broken release")
        git_repo.push()
        second = _run(s, server, broken)
        log = _log(s, server, second["id"])
        assert second["status"] == "failed", log
        deploy = next(st for st in second["stages"] if st["name"] == "deploy")
        assert deploy["status"] == "failed" and "rolled back" in deploy["detail"]["error"], deploy
        for st in second["stages"]:
            for ref in st["detail"].get("refs") or []:
                docker_tracker.track_image(ref)
        def rolled_back() -> bool:
            dep = s.get(f"{server.url}/k8s/apis/apps/v1/namespaces/default/deployments/pweb", timeout=10).json()
            return dep["spec"]["template"]["spec"]["containers"][0]["image"] == good_image

        try:
            wait_for(rolled_back, 30, message="the deployment's template is the good image again")
        except AssertionError:
            dep = s.get(f"{server.url}/k8s/apis/apps/v1/namespaces/default/deployments/pweb", timeout=10).json()
            rss = s.get(f"{server.url}/k8s/apis/apps/v1/namespaces/default/replicasets", timeout=10).json()
            raise AssertionError(f"{log}\n{dep}\n{[(r['metadata'], r['spec']['template']) for r in rss['items']]}")
    finally:
        server.stop()
