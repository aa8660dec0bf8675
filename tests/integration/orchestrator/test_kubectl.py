"""The real kubectl against shipway: apply, get, describe, scale, rollout, logs, delete; the Service proxy."""

from __future__ import annotations

import subprocess

import pytest
import requests

from support.waiting import wait_for

from .conftest import web_manifest

pytestmark = [pytest.mark.zookeeper, pytest.mark.docker, pytest.mark.slow]


def _service_port(kube, name="web") -> int:
    return kube.json("get", "svc", name)["spec"]["ports"][0]["nodePort"]


def _fetch(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/index.html", timeout=3).text


def test_kubectl_end_to_end(kube):
    out = kube.kubectl("apply", "-f", "-", input=web_manifest()).stdout
    assert "deployment.apps/web created" in out and "service/web created" in out
    kube.wait_rollout("web")
    table = kube.kubectl("get", "deploy,rs,pods,svc").stdout
    assert "deployment.apps/web   2/2     2            2" in table, table
    assert "RESTARTS" in table and "PORT(S)" in table
    port = _service_port(kube)
    assert wait_for(lambda: _fetch(port) == "hello v1\n", 20, message="the Service answering")
    described = kube.kubectl("describe", "deployment", "web").stdout
    assert "NewReplicaSetAvailable" in described and "RollingUpdateStrategy" in described
    assert "ScalingReplicaSet" in described and "Scaled up replica set web-" in described
    assert "Ready" in kube.kubectl("describe", "pod", "-l", "app=web").stdout
    # ConfigMap volumes follow changes of their ConfigMap while the pods run.
    kube.kubectl("patch", "configmap", "web-www", "-p", '{"data": {"index.html": "hot\\n"}}')
    assert wait_for(lambda: _fetch(port) == "hot\n", 20, message="the changed ConfigMap file served")

    # A config change through client-side apply rolls out revision 2.
    kube.kubectl("apply", "-f", "-", input=web_manifest(text="hello v2").replace(
        "periodSeconds: 1", "periodSeconds: 1\n          initialDelaySeconds: 0\n        workingDir: /"))
    kube.wait_rollout("web")
    assert wait_for(lambda: _fetch(port) == "hello v2\n", 20, message="the new version behind the Service")
    history = kube.kubectl("rollout", "history", "deployment/web").stdout
    assert "1 " in history and "2 " in history

    kube.kubectl("scale", "deployment/web", "--replicas=3")
    wait_for(lambda: len(kube.ready_pods("app=web")) == 3, 30, message="3 ready pods")
    assert len(kube.json("get", "rs")["items"]) == 2  # scaling made no new revision

    kube.kubectl("rollout", "undo", "deployment/web")
    kube.wait_rollout("web")
    rss = kube.json("get", "rs")["items"]
    revs = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r["spec"]["replicas"] for r in rss}
    assert revs == {"3": 3, "2": 0}, revs

    kube.kubectl("rollout", "pause", "deployment/web")
    kube.kubectl("set", "env", "deployment/web", "PAUSED=1")
    assert len(kube.json("get", "rs")["items"]) == 2
    kube.kubectl("rollout", "resume", "deployment/web")
    kube.wait_rollout("web")
    assert len(kube.json("get", "rs")["items"]) == 3

    pod = kube.ready_pods("app=web")[0]["metadata"]["name"]
    kube.kubectl("logs", pod)  # busybox httpd prints nothing; the call must work
    kube.kubectl("delete", "-f", "-", input=web_manifest())
    wait_for(lambda: not kube.json("get", "pods")["items"], 60, message="pods gone after delete")
    wait_for(lambda: not kube.pod_containers(), 30, message="containers removed")


def test_server_side_apply_and_422(kube):
    out = kube.kubectl("apply", "--server-side", "--field-manager=pipeline", "-f", "-", input=web_manifest(replicas=1))
    assert "serverside-applied" in out.stdout
    kube.wait_rollout("web")
    bad = web_manifest().replace("        image: shipway", "        bogus: 1\n        image: shipway")
    proc = kube.kubectl("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0 and "spec.template.spec.containers[0].bogus" in proc.stderr
    proc = kube.kubectl("apply", "--server-side", "-f", "-", input=bad.replace("replicas: 2", "replicas: -2"),
                        check=False)
    assert "spec.replicas" in proc.stderr and "bogus" in proc.stderr


def test_namespace_lifecycle_and_watch_table(kube):
    manifest = web_manifest(replicas=1)
    kube.kubectl("create", "namespace", "team-a")  # kubectl's typed client sends protobuf here
    kube.kubectl("-n", "team-a", "create", "secret", "generic", "s1", "--from-literal=pw=hunter2")
    assert kube.json("-n", "team-a", "get", "secret", "s1")["data"]["pw"] == "aHVudGVyMg=="
    kube.kubectl("-n", "team-a", "apply", "-f", "-", input=manifest)
    kube.kubectl("-n", "team-a", "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    proc = subprocess.Popen(["kubectl", "--kubeconfig", str(kube.kubeconfig), "-n", "team-a", "get", "pods", "-w"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kube.kubectl("-n", "team-a", "scale", "deployment/web", "--replicas=2")
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    lines = [x for x in out.splitlines() if x.startswith("web-")]
    assert "RESTARTS" in out and len(lines) >= 3 and "Running" in lines[0], out  # the list, then watch events
    kube.kubectl("delete", "namespace", "team-a")
    wait_for(lambda: not kube.json("get", "pods", "-A")["items"], 30, message="team-a pods gone")
    assert "team-a" not in kube.kubectl("get", "ns").stdout
    proc = kube.kubectl("-n", "team-a", "apply", "-f", "-", input=manifest, check=False)
    assert proc.returncode != 0 and "team-a" in proc.stderr
