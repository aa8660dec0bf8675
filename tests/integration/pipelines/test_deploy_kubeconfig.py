"""A deploy stage aimed at a cluster through a kubeconfig project secret and a named context.

There is no other Kubernetes cluster here, so the "real cluster" is shipway's own orchestrator reached
the way any cluster is: its HTTPS front, the CA embedded in the kubeconfig, a token of a user made for
it — the code path of a real cluster, not the built-in default (which would create `shipway-deployer`).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from support.server import LiveServer
from integration.pipelines.test_deploy import GOOD, MANIFEST, _log, _run, start_server

PIPELINE = """
stages:
  - {name: fetch, kind: fetch}
  - {name: build, kind: build, image: pipelines-kubeconfig/web, tags: ["{commit_short}"]}
  - {name: push, kind: push}
  - name: deploy
    kind: deploy
    manifests: [k8s/]
    container: web
    namespace: default
    kubeconfig: {from_secret: CLUSTER}
    context: the-cluster
    rollout_timeout: 25s
"""


def _kubeconfig(server: LiveServer, token: str) -> str:
    """``shipway kubeconfig`` for ``token``, renamed, plus a dead cluster as the current context."""
    out = subprocess.run([sys.executable, "-m", "shipway", "kubeconfig", "--url", server.url, "--token", token],
                         capture_output=True, text=True, check=True, env=server.env)
    cfg = yaml.safe_load(out.stdout)
    cfg["clusters"][0]["name"] = cfg["contexts"][0]["context"]["cluster"] = "ours"
    cfg["contexts"][0]["name"] = "the-cluster"
    cfg["clusters"].append({"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}})
    cfg["contexts"].append({"name": "dead", "context": {"cluster": "dead", "user": "shipway"}})
    cfg["current-context"] = "dead"  # the stage's `context` must win over it
    return yaml.safe_dump(cfg)


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.zookeeper
@pytest.mark.slow
def test_deploy_through_a_kubeconfig_secret_and_context(tmp_path, zk_hosts, registry_server, docker_tracker,
                                                        git_repo):
    server, s = start_server(tmp_path, zk_hosts, registry_server, docker_tracker)
    try:
        assert s.post(f"{server.url}/api/v1/users", json={"username": "cluster-ci", "password": "pw-cluster-ci-1",
                                                           "role": "developer"}, timeout=10).status_code == 201
        token = s.post(f"{server.url}/api/v1/tokens", json={"username": "cluster-ci", "name": "kubeconfig"},
                       timeout=10).json()["token"]
        commit = git_repo.commit({".shipway.yml": PIPELINE, "Dockerfile": GOOD, "index.html": "v1\n",
                                  "k8s/app.yaml": MANIFEST.replace("pweb", "kweb")}, "release")
        git_repo.push()
        assert s.post(f"{server.url}/api/v1/projects", json={
            "name": "web", "repo_url": git_repo.url, "branches": ["main"],
            "secrets": {"CLUSTER": _kubeconfig(server, token)}}, timeout=10).ok

        run = _run(s, server, commit)
        log = _log(s, server, run["id"])
        for st in run["stages"]:
            for ref in st["detail"].get("refs") or []:
                docker_tracker.track_image(ref)
        assert run["status"] == "succeeded", log
        deploy = next(st for st in run["stages"] if st["name"] == "deploy")
        dep = s.get(f"{server.url}/k8s/apis/apps/v1/namespaces/default/deployments/kweb", timeout=10).json()
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == deploy["detail"]["image"]
        assert dep["status"].get("readyReplicas") == 1
        users = {u["username"] for u in s.get(f"{server.url}/api/v1/users", timeout=10).json()["items"]}
        assert "shipway-deployer" not in users  # the built-in target was never used
        assert token not in log and "certificate-authority-data" not in log
    finally:
        server.stop()
