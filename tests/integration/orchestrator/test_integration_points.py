"""Ready endpoints in the service registry; pods reach shipway and ZooKeeper through SHIPWAY_URL / SHIPWAY_ZK."""

from __future__ import annotations

import docker
import pytest

from support.waiting import wait_for

from .conftest import web_manifest

pytestmark = [pytest.mark.zookeeper, pytest.mark.docker, pytest.mark.slow]


def _instances(kube) -> list[dict]:
    return kube.get("/../api/v1/naming/services/web/instances?namespace=default")["items"]


def test_ready_endpoints_are_registered_in_the_naming_service(kube):
    kube.kubectl("create", "namespace", "default", check=False)
    kube.kubectl("apply", "-f", "-", input=web_manifest(replicas=2))
    kube.wait_rollout("web")
    wait_for(lambda: len(_instances(kube)) == 2, 30, message="2 registered instances")
    inst = _instances(kube)
    assert {i["ip"] for i in inst} == {"127.0.0.1"}
    assert all(i["metadata"]["managed-by"] == "shipway-orchestrator" and i["metadata"]["pod"].startswith("web-")
               for i in inst)
    host_ports = {p["metadata"]["name"]: p for p in kube.json("get", "pods")["items"]}
    assert {i["metadata"]["pod"] for i in inst} == set(host_ports)
    kube.kubectl("scale", "deployment/web", "--replicas=1")
    wait_for(lambda: len(_instances(kube)) == 1, 30, message="1 registered instance after scaling down")


def test_pods_reach_shipway_and_zookeeper(kube):
    kube.kubectl("apply", "-f", "-", input=web_manifest(replicas=1))
    kube.wait_rollout("web")
    client = docker.from_env()
    try:
        c = next(c for c in client.containers.list(filters={"label": f"org.shipway.test.id={kube.labels['org.shipway.test.id']}"})
                 if c.labels.get("org.shipway.orchestrator.role") == "container")
        env = dict(line.split("=", 1) for line in c.exec_run(["env"]).output.decode().splitlines() if "=" in line)
        assert env["SHIPWAY_URL"].startswith("http://") and env["SHIPWAY_ZK"]
        out = c.exec_run(["wget", "-q", "-O", "-", env["SHIPWAY_URL"] + "/healthz"]).output.decode()
        assert "ok" in out.lower(), out
        zk_host, _, rest = env["SHIPWAY_ZK"].partition("/")
        host, port = zk_host.rsplit(":", 1)
        res = c.exec_run(["sh", "-c", f"nc -w 2 {host} {port} </dev/null && echo connected"]).output.decode()
        assert "connected" in res, res
    finally:
        client.close()
