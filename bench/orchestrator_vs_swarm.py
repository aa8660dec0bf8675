"""Orchestrator benchmarks beside Docker Swarm on the same engine, same image, same readiness check.

1. deploy: 5 replicas from apply to all ready (shipway) / `docker service create --replicas 5` to 5
   healthy tasks (Swarm) / 5 plain `docker run`s answering HTTP (the floor);
2. self-heal: kill one replica's container, time until 5 are ready again;
3. rolling update under ~100 req/s through the Service (127.0.0.1): failed requests for shipway,
   Swarm with its default update settings, and Swarm with --update-order start-first.

Run: .venv/bin/python bench/orchestrator_vs_swarm.py   (about 3-4 minutes; leaves the swarm at the end)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import requests

IMAGE = "shipway/busybox:latest"
SCRIPT = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
LABEL = "org.shipway.bench"
N = 5


def wait(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            v = cond()
            if v:
                return v
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Load:
    """~rate req/s of fresh HTTP connections to 127.0.0.1:port; counts failures."""

    def __init__(self, port: int, rate: float = 100.0) -> None:
        self.port, self.rate = port, rate
        self.ok = self.failed = 0
        self.errors: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _one(self):
        try:
            r = requests.get(f"http://127.0.0.1:{self.port}/index.html", timeout=2,
                             headers={"Connection": "close"})
            good = r.status_code == 200
            err = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            good, err = False, type(e).__name__
        with self._lock:
            if good:
                self.ok += 1
            else:
                self.failed += 1
                self.errors[err] = self.errors.get(err, 0) + 1

    def run(self):
        interval = 1.0 / self.rate
        nxt = time.monotonic()
        while not self._stop.is_set():
            threading.Thread(target=self._one, daemon=True).start()
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))

    def __enter__(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        time.sleep(2.5)  # let in-flight requests finish


# -- shipway ---------------------------------------------------------------------------------
class Shipway:
    def __init__(self, tmp: Path) -> None:
        from shipway.core import launcher
        self.port = launcher.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SHIPWAY_DATA_DIR": str(tmp / "serve"), "SHIPWAY_PORT": str(self.port),
                    "SHIPWAY_ORCHESTRATOR_LABELS": f"{LABEL}=1", "SHIPWAY_LOG_LEVEL": "warning"}
        self.proc = subprocess.Popen([sys.executable, "-m", "shipway", "serve"], env=self.env,
                                     stdout=open(tmp / "serve.log", "wb"), stderr=subprocess.STDOUT)
        wait(lambda: requests.get(self.url + "/healthz", timeout=1).ok, 60, "shipway serve")
        token = subprocess.run([sys.executable, "-m", "shipway", "token", "create", "admin", "--name", "bench"],
                               env=self.env, capture_output=True, text=True, check=True).stdout.strip()
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        wait(lambda: self.http.get(self.url + "/k8s/api/v1/namespaces/default").ok, 30, "default namespace")

    def apply(self, obj: dict) -> None:
        kind = obj["kind"]
        base = "/k8s/apis/apps/v1/namespaces/default/deployments" if kind == "Deployment" \
            else "/k8s/api/v1/namespaces/default/services"
        r = self.http.patch(f"{self.url}{base}/{obj['metadata']['name']}?fieldManager=bench", data=json.dumps(obj),
                            headers={"Content-Type": "application/apply-patch+yaml"})
        r.raise_for_status()

    def deployment(self, env_value: str = "1") -> dict:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
                "spec": {"replicas": N, "selector": {"matchLabels": {"app": "bench"}},
                         "template": {"metadata": {"labels": {"app": "bench"}}, "spec": {
                             "terminationGracePeriodSeconds": 5,
                             "containers": [{"name": "web", "image": IMAGE, "command": ["sh", "-c", SCRIPT],
                                             "env": [{"name": "VERSION", "value": env_value}],
                                             "ports": [{"containerPort": 8080}],
                                             "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080},
                                                                "periodSeconds": 1}}]}}}}

    def status(self) -> dict:
        return self.http.get(self.url + "/k8s/apis/apps/v1/namespaces/default/deployments/bench").json()

    def all_ready(self) -> bool:
        d = self.status()
        st = d.get("status") or {}
        return (st.get("observedGeneration") == d["metadata"]["generation"] and st.get("availableReplicas") == N
                and st.get("updatedReplicas") == N and st.get("replicas") == N)

    def ready_pods(self) -> int:
        pods = self.http.get(self.url + "/k8s/api/v1/namespaces/default/pods").json()["items"]
        return sum(1 for p in pods if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def bench_shipway(client, tmp: Path) -> dict:
    sw = Shipway(tmp)
    out = {}
    try:
        t = time.monotonic()
        sw.apply(sw.deployment())
        wait(sw.all_ready, 120, "shipway: 5 ready")
        out["deploy"] = time.monotonic() - t
        sw.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench"},
                  "spec": {"selector": {"app": "bench"}, "ports": [{"port": 80, "targetPort": 8080}]}})
        port = sw.http.get(sw.url + "/k8s/api/v1/namespaces/default/services/bench").json()["spec"]["ports"][0]["nodePort"]
        wait(lambda: requests.get(f"http://127.0.0.1:{port}/index.html", timeout=1).ok, 20, "service port")
        victim = next(c for c in client.containers.list(filters={"label": f"{LABEL}=1"})
                      if c.labels.get("org.shipway.orchestrator.role") == "container")
        t = time.monotonic()
        victim.kill()
        wait(lambda: sw.ready_pods() < N, 10, "shipway: the kill noticed")
        wait(lambda: sw.ready_pods() == N, 60, "shipway: 5 ready again")
        out["heal"] = time.monotonic() - t
        with Load(port) as load:
            time.sleep(1)
            t = time.monotonic()
            sw.apply(sw.deployment("2"))
            wait(lambda: sw.status()["metadata"]["generation"] > 1, 10, "generation")
            wait(sw.all_ready, 180, "shipway: rollout")
            out["update"] = time.monotonic() - t
            time.sleep(1)
        out["load"] = (load.ok, load.failed, load.errors)
    finally:
        sw.stop()
        for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
            c.remove(force=True)
    return out


# -- Swarm and the floor -------------------------------------------------------------------------
def docker_cli(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout


def swarm_healthy(client, service: str) -> int:
    n = 0
    for c in client.containers.list(filters={"label": f"com.docker.swarm.service.name={service}"}):
        if (c.attrs["State"].get("Health") or {}).get("Status") == "healthy":
            n += 1
    return n


class SwarmFront:
    """Swarm's routing mesh needs IPVS, which this kernel lacks: tasks publish in host mode and this
    balancer (shipway's own proxy listener) follows the tasks that are running and healthy,
    refreshed from the engine every 0.5 s — what the mesh does with its task list."""

    def __init__(self, client, service: str) -> None:
        from shipway.core import launcher
        from shipway.orchestrator.proxy import Listener
        self.client, self.service = client, service
        self.listener = Listener(launcher.free_port())
        self.port = self.listener.port
        self._stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                targets = []
                for c in self.client.containers.list(filters={"label": f"com.docker.swarm.service.name={self.service}"}):
                    if (c.attrs["State"].get("Health") or {}).get("Status") != "healthy":
                        continue
                    binds = (c.attrs["NetworkSettings"].get("Ports") or {}).get("8080/tcp") or []
                    if binds:
                        targets.append(("127.0.0.1", int(binds[0]["HostPort"])))
                self.listener.targets = targets
            except Exception:  # noqa: BLE001
                pass
            self._stop.wait(0.5)

    def close(self):
        self._stop.set()
        self.listener.close()


def bench_swarm(client) -> dict:
    out = {}
    health = ["--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/index.html", "--health-interval", "1s",
              "--health-start-period", "0s", "--health-retries", "1", "--health-timeout", "1s"]
    docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        t = time.monotonic()
        docker_cli("service", "create", "--detach", "--name", "bench-swarm", "--replicas", str(N), "--label",
                   f"{LABEL}=1", "--publish", "mode=host,target=8080", *health,
                   "--env", "VERSION=1", IMAGE, "sh", "-c", SCRIPT)
        wait(lambda: swarm_healthy(client, "bench-swarm") == N, 120, "swarm: 5 healthy")
        out["deploy"] = time.monotonic() - t
        front = SwarmFront(client, "bench-swarm")
        wait(lambda: requests.get(f"http://127.0.0.1:{front.port}/index.html", timeout=1).ok, 30, "swarm front")
        victim = client.containers.list(filters={"label": "com.docker.swarm.service.name=bench-swarm"})[0]
        t = time.monotonic()
        victim.kill()
        wait(lambda: swarm_healthy(client, "bench-swarm") < N, 10, "swarm: the kill noticed")
        wait(lambda: swarm_healthy(client, "bench-swarm") == N, 90, "swarm: 5 healthy again")
        out["heal"] = time.monotonic() - t
        for key, extra, version in (("update_default", [], "2"), ("update_start_first",
                                                                   ["--update-order", "start-first"], "3")):
            with Load(front.port) as load:
                time.sleep(1)
                t = time.monotonic()
                docker_cli("service", "update", "--detach=false", "--quiet", *extra, "--env-add", f"VERSION={version}",
                           "bench-swarm")
                out[key] = time.monotonic() - t
                time.sleep(1)
            out[key + "_load"] = (load.ok, load.failed, load.errors)
        front.close()
    finally:
        docker_cli("service", "rm", "bench-swarm", check=False)
        docker_cli("swarm", "leave", "--force", check=False)
    return out


def bench_floor(client) -> float:
    from shipway.core import launcher
    ports = [launcher.free_port() for _ in range(N)]
    t = time.monotonic()
    threads = [threading.Thread(target=lambda p=p: client.containers.run(
        IMAGE, ["sh", "-c", SCRIPT], detach=True, labels={LABEL: "1"}, ports={"8080/tcp": ("127.0.0.1", p)}))
        for p in ports]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for p in ports:
        wait(lambda p=p: requests.get(f"http://127.0.0.1:{p}/index.html", timeout=1).ok, 30, "plain container")
    took = time.monotonic() - t
    for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        c.remove(force=True)
    return took


def main() -> None:
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        floor = bench_floor(client)
        ours = bench_shipway(client, Path(tmp))
    swarm = bench_swarm(client)
    print(f"{'':32}{'shipway':>12}{'Docker Swarm':>16}")
    print(f"{'deploy 5 replicas to ready (s)':32}{ours['deploy']:>12.2f}{swarm['deploy']:>16.2f}"
          f"    (5 plain docker runs answering: {floor:.2f} s)")
    print(f"{'self-heal after docker kill (s)':32}{ours['heal']:>12.2f}{swarm['heal']:>16.2f}")
    ok, failed, errs = ours["load"]
    print(f"{'rolling update (s)':32}{ours['update']:>12.2f}{swarm['update_default']:>16.2f}"
          f"    (Swarm start-first: {swarm['update_start_first']:.2f} s)")
    print(f"{'  requests ok / failed':32}{f'{ok}/{failed}':>12}"
          f"{'{}/{}'.format(*swarm['update_default_load'][:2]):>16}"
          f"    (Swarm start-first: {'{}/{}'.format(*swarm['update_start_first_load'][:2])})")
    print(f"  failures by kind: shipway {errs}; swarm default {swarm['update_default_load'][2]}; "
          f"swarm start-first {swarm['update_start_first_load'][2]}")


if __name__ == "__main__":
    main()
