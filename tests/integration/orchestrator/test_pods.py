"""Pod features on Docker: env sources, Secret/ConfigMap files, limits, probes, restarts, shipway CLI."""

from __future__ import annotations

import subprocess
import sys

import docker
import pytest

from support.waiting import wait_for

pytestmark = [pytest.mark.zookeeper, pytest.mark.docker, pytest.mark.slow]

POD = """\
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret, user: bob}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {LEVEL: debug, MODE: fast}
---
apiVersion: v1
kind: Pod
metadata:
  name: features
  labels: {app: features}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: shipway/busybox:latest
    command: ["sh", "-c"]
    args: ["touch /tmp/alive; echo started $(POD_NAME); exec sleep 3600"]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: GREETING, value: "hi $(POD_NAME)"}
    envFrom:
    - {configMapRef: {name: settings}, prefix: CFG_}
    resources:
      limits: {cpu: 500m, memory: 64Mi}
    livenessProbe:
      exec: {command: ["test", "-f", "/tmp/alive"]}
      periodSeconds: 1
      failureThreshold: 2
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
    volumeMounts:
    - {name: secret, mountPath: /etc/creds}
  volumes:
  - name: secret
    secret:
      secretName: creds
      items: [{key: user, path: user.txt}]
"""


def _main_container(kube):
    client = docker.from_env()
    try:
        cs = client.containers.list(filters={"label": f"org.shipway.test.id={kube.labels['org.shipway.test.id']}"})
        return next((c for c in cs if c.labels.get("org.shipway.orchestrator.container") == "main"), None)
    finally:
        client.close()


def _ready(kube) -> bool:
    pod = kube.json("get", "pod", "features")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_env_volumes_limits_and_liveness(kube):
    kube.kubectl("apply", "-f", "-", input=POD)
    wait_for(lambda: _ready(kube), 30, message="the pod ready")
    c = _main_container(kube)
    env = dict(line.split("=", 1) for line in c.exec_run(["env"]).output.decode().splitlines() if "=" in line)
    assert env["POD_NAME"] == "features" and env["PASSWORD"] == "s3cret" and env["GREETING"] == "hi features"
    assert env["CFG_LEVEL"] == "debug" and env["CFG_MODE"] == "fast" and env["SHIPWAY_URL"]
    assert c.exec_run(["cat", "/etc/creds/user.txt"]).output == b"bob"
    hc = c.attrs["HostConfig"]
    assert hc["NanoCpus"] == 500_000_000 and hc["Memory"] == 64 * 1024 * 1024
    assert "started features" in kube.kubectl("logs", "features").stdout
    # Liveness: remove the file → the container is restarted (restartCount 1).
    c.exec_run(["rm", "/tmp/alive"])
    wait_for(lambda: kube.json("get", "pod", "features")["status"]["containerStatuses"][0]["restartCount"] == 1,
             30, message="restart after the liveness probe failed")
    wait_for(lambda: _ready(kube), 30, message="ready again")
    # Engine-level loss of the pod's sandbox (as after a Docker restart): the pod comes back.
    client = docker.from_env()
    try:
        old = [s for s in client.containers.list(filters={"label": "org.shipway.orchestrator.role=sandbox"})
               if s.labels.get("org.shipway.test.id") == kube.labels["org.shipway.test.id"]]
        assert len(old) == 1
        old[0].stop(timeout=0)

        def back():
            sand = [s for s in client.containers.list(filters={"label": "org.shipway.orchestrator.role=sandbox"})
                    if s.labels.get("org.shipway.test.id") == kube.labels["org.shipway.test.id"]]
            st = kube.json("get", "pod", "features")["status"]["containerStatuses"][0]
            return len(sand) == 1 and sand[0].id != old[0].id and st["restartCount"] == 2 and _ready(kube)
        wait_for(back, 40, message="the pod back in a new sandbox after its sandbox stopped")
    finally:
        client.close()
    kube.kubectl("delete", "pod", "features", "--wait=true", timeout=60)
    wait_for(lambda: not [x for x in kube.pod_containers() if "features" in x.name], 20, message="containers gone")


def test_missing_config_is_reported(kube):
    manifest = POD.split("---\n")[2].replace("name: creds", "name: nope")
    kube.kubectl("apply", "-f", "-", input=manifest)

    def waiting_reason():
        st = kube.json("get", "pod", "features")["status"].get("containerStatuses") or [{}]
        return st[0].get("state", {}).get("waiting", {}).get("reason")
    wait_for(lambda: waiting_reason() == "CreateContainerConfigError", 30, message="CreateContainerConfigError")


def test_shipway_cli_commands(kube):
    env = {"SHIPWAY_URL": kube.server.url, "SHIPWAY_TOKEN": kube.token}
    import os

    def shipway(*args, input=None):
        p = subprocess.run([sys.executable, "-m", "shipway", *args], capture_output=True, text=True, input=input,
                           env={**os.environ, **env}, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout
    from .conftest import web_manifest
    assert "deployment/web created" in shipway("apply", "-f", "-", input=web_manifest(replicas=1))
    assert "successfully rolled out" in shipway("rollout", "status", "deployment/web", "--timeout", "90")
    assert "web" in shipway("get", "deploy")
    shipway("scale", "deployment/web", "--replicas", "2")
    wait_for(lambda: "2/2" in shipway("get", "deploy"), 30, message="2/2 via the CLI")
    assert "REVISION" in shipway("rollout", "history", "deployment/web")
    assert "kind: Deployment" in shipway("describe", "deploy", "web")
    shipway("delete", "deploy", "web")
