"""A live ``shipway serve`` with the real kubectl pointed at it; every pod container carries the test's labels."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from support.server import LiveServer
from support.waiting import wait_for


class Kube:
    """The live server, its kubeconfig and a ``kubectl`` runner."""

    def __init__(self, server: LiveServer, tmp_path, labels: dict[str, str]) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.labels = labels
        self.kubeconfig = tmp_path / "kubeconfig"
        self.refresh()

    def refresh(self) -> None:
        token = self.server.admin_token()
        out = subprocess.run([sys.executable, "-m", "shipway", "kubeconfig", "--url", self.server.url,
                              "--token", token], capture_output=True, text=True, check=True)
        self.kubeconfig.write_text(out.stdout)
        self.token = token

    def kubectl(self, *args: str, check: bool = True, timeout: float = 90, input: str | None = None):
        proc = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get(self, path: str) -> dict:
        r = requests.get(self.server.url + "/k8s" + path, headers={"Authorization": f"Bearer {self.token}"},
                         timeout=10)
        r.raise_for_status()
        return r.json()

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def pod_containers(self, all_: bool = True) -> list:
        import docker
        client = docker.from_env()
        try:
            filters = {"label": [f"{k}={v}" for k, v in self.labels.items()]}
            return client.containers.list(all=all_, filters=filters)
        finally:
            client.close()

    def ready_pods(self, selector: str) -> list[dict]:
        items = self.json("get", "pods", "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]

    def wait_rollout(self, name: str, timeout: float = 90) -> None:
        try:
            self.kubectl("rollout", "status", f"deployment/{name}", f"--timeout={int(timeout)}s",
                         timeout=timeout + 10)
        except (AssertionError, subprocess.TimeoutExpired) as e:
            raise AssertionError(f"{e}\n--- state when the rollout did not finish:\n{self.diagnostics()}") from None

    def diagnostics(self) -> str:
        """What a person debugging a stuck rollout looks at first: objects, pod statuses, events."""
        out = [self.kubectl("get", "deploy,rs,pods", "-o", "wide", check=False).stdout,
               self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False).stdout[-4000:]]
        for p in self.json("get", "pods").get("items", []):
            st = p.get("status") or {}
            out.append(f"{p['metadata']['name']} deleting={bool(p['metadata'].get('deletionTimestamp'))} "
                       f"{json.dumps({k: st.get(k) for k in ('phase', 'conditions', 'containerStatuses')})[:1500]}")
        return "\n".join(out)


def start_server(tmp_path, zk_hosts, registry_server, docker_tracker, name="serve") -> LiveServer:
    labels = ",".join(f"{k}={v}" for k, v in docker_tracker.labels.items())
    server = LiveServer(tmp_path / name, zk=zk_hosts, registry=registry_server,
                        env={"SHIPWAY_ORCHESTRATOR_LABELS": labels, "SHIPWAY_LOG_LEVEL": "info"})
    return server.start()


@pytest.fixture
def kube(tmp_path, zk_hosts, registry_server, docker_tracker):
    server = start_server(tmp_path, zk_hosts, registry_server, docker_tracker)
    k = Kube(server, tmp_path, {"org.shipway.test.id": docker_tracker.test_id})
    wait_for(lambda: k.kubectl("get", "ns", "default", check=False).returncode == 0, 20,
             message="the default namespace")
    yield k
    server.stop()


def web_manifest(name: str = "web", replicas: int = 2, text: str = "hello v1", image: str = "shipway/busybox:latest",
                 extra_spec: str = "") -> str:
    return f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-www
data:
  index.html: "{text}\\n"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
{extra_spec}  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: {image}
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        env:
        - name: GREETING
          valueFrom:
            configMapKeyRef: {{name: {name}-www, key: index.html}}
        ports:
        - {{name: http, containerPort: 8080}}
        readinessProbe:
          httpGet: {{path: /index.html, port: http}}
          periodSeconds: 1
        volumeMounts:
        - {{name: www, mountPath: /www}}
      volumes:
      - name: www
        configMap: {{name: {name}-www}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports:
  - {{name: http, port: 80, targetPort: http}}
"""
