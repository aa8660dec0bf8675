"""The Kubernetes REST API (Flask test client, in-memory store): discovery, CRUD, Status errors, Table, scale, watch."""

from __future__ import annotations

import json
import threading

import pytest

from shipway.orchestrator.resources import Resources

from .fakes import MemoryStore

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "web", "image": "shipway/busybox:latest"}]}}}}
BASE = "/k8s/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def api(unit_app, as_role):
    svc = unit_app.extensions["shipway"].services["orchestrator"]
    svc.store = MemoryStore()
    svc.resources = Resources(svc.store)
    return as_role(unit_app, "developer")


def test_discovery_documents(api, unit_app):
    assert unit_app.test_client().get("/k8s/version").json["major"] == "1"
    assert api.get("/k8s/api").json["versions"] == ["v1"]
    assert api.get("/k8s/apis").json["groups"][0]["name"] == "apps"
    names = {r["name"] for r in api.get("/k8s/apis/apps/v1").json["resources"]}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets"} <= names
    core = {r["name"]: r for r in api.get("/k8s/api/v1").json["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and "pods/log" in core
    v3 = api.get("/k8s/openapi/v3").json["paths"]
    assert "apis/apps/v1" in v3


def test_auth_is_required_and_answers_a_status(unit_app):
    r = unit_app.test_client().get(BASE, headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.json["kind"] == "Status" and r.json["reason"] == "Unauthorized"


def test_viewer_cannot_write(unit_app, as_role):
    unit_app.extensions["shipway"].services["orchestrator"].store = MemoryStore()
    r = as_role(unit_app, "viewer").post(BASE, json=DEPLOY)
    assert r.status_code == 403 and r.json["kind"] == "Status"


def test_create_get_list_table_update_delete(api):
    r = api.post(BASE, json=DEPLOY)
    assert r.status_code == 201, r.json
    obj = r.json
    assert obj["metadata"]["uid"] and obj["metadata"]["generation"] == 1
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert api.post(BASE, json=DEPLOY).json["reason"] == "AlreadyExists"
    table = api.get(BASE, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json
    assert table["kind"] == "Table" and table["rows"][0]["cells"][:2] == ["web", "0/2"]
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert api.get(BASE + "?labelSelector=app%3Dnope").json["items"] == []
    stale = dict(obj)
    api.patch(BASE + "/web", data=json.dumps({"metadata": {"labels": {"x": "y"}}}),
              headers={"Content-Type": "application/merge-patch+json"})
    r = api.put(BASE + "/web", json=stale)
    assert r.status_code == 409 and r.json["reason"] == "Conflict"
    r = api.patch(BASE + "/web", data=json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "shipway/python:3.11"}]}}}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.json["metadata"]["generation"] == 2 and r.json["metadata"]["labels"] == {"x": "y"}
    assert api.delete(BASE + "/web").status_code == 200
    r = api.get(BASE + "/web")
    assert r.status_code == 404 and r.json["reason"] == "NotFound" and r.json["details"]["name"] == "web"


def test_invalid_manifest_is_422_with_every_cause(api):
    bad = json.loads(json.dumps(DEPLOY))
    bad["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    bad["spec"]["replicas"] = -3
    bad["spec"]["paused"] = "yes"
    r = api.post(BASE, json=bad)
    assert r.status_code == 422 and r.json["reason"] == "Invalid"
    fields = {c["field"] for c in r.json["details"]["causes"]}
    assert {"spec.template.spec.containers[0].bogus", "spec.replicas", "spec.paused"} <= fields


def test_server_side_apply_creates_then_updates(api):
    url = BASE + "/web?fieldManager=pipeline"
    r = api.patch(url, data=json.dumps(DEPLOY), headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 201
    changed = json.loads(json.dumps(DEPLOY))
    changed["spec"]["replicas"] = 4
    r = api.patch(url, data=json.dumps(changed), headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 200 and r.json["spec"]["replicas"] == 4


def test_scale_subresource(api):
    api.post(BASE, json=DEPLOY)
    s = api.get(BASE + "/web/scale").json
    assert s["kind"] == "Scale" and s["spec"]["replicas"] == 2 and s["status"]["selector"] == "app=web"
    r = api.patch(BASE + "/web/scale", data=json.dumps({"spec": {"replicas": 5}}),
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.json["spec"]["replicas"] == 5
    assert api.get(BASE + "/web").json["spec"]["replicas"] == 5


def test_watch_streams_events_after_a_resource_version(api):
    rv = api.get(BASE).json["metadata"]["resourceVersion"]
    threading.Timer(0.2, lambda: api.post(BASE, json=DEPLOY)).start()
    r = api.get(f"{BASE}?watch=1&resourceVersion={rv}&timeoutSeconds=1", buffered=True)
    events = [json.loads(line) for line in r.data.decode().splitlines() if line]
    assert events and events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "web"


def test_namespaces_must_exist(api):
    r = api.post("/k8s/apis/apps/v1/namespaces/nope/deployments", json=DEPLOY)
    assert r.status_code == 404
    assert api.post("/k8s/api/v1/namespaces", json={"metadata": {"name": "nope"}}).status_code == 201
    assert api.post("/k8s/apis/apps/v1/namespaces/nope/deployments", json=DEPLOY).status_code == 201


def test_service_gets_a_stable_local_port(api):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    r = api.post("/k8s/api/v1/namespaces/default/services", json=svc)
    port = r.json["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    r = api.put("/k8s/api/v1/namespaces/default/services/web", json=r.json)
    assert r.json["spec"]["ports"][0]["nodePort"] == port
