"""The native naming REST API under /api/v1/naming."""

from __future__ import annotations

from urllib.parse import quote

import pytest

pytestmark = pytest.mark.zookeeper

BASE = "/api/v1/naming"


def test_service_and_instance_lifecycle(app, as_role):
    dev, viewer = as_role(app, "developer"), as_role(app, "viewer")
    r = dev.post(f"{BASE}/services", json={"namespace": "staging", "name": "orders", "protectThreshold": 0.5,
                                           "metadata": {"team": "a"}})
    assert r.status_code == 201, r.json
    assert dev.post(f"{BASE}/services", json={"namespace": "staging", "name": "orders"}).status_code == 409
    r = dev.post(f"{BASE}/services/orders/instances?namespace=staging",
                 json={"ip": "10.1.0.1", "port": 8080, "weight": 2, "metadata": {"zone": "z1"}})
    assert r.status_code == 201, r.json
    iid = r.json["instanceId"]
    assert iid == "10.1.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders"
    assert r.json["source"] == "persistent" and r.json["ephemeral"] is False
    r = viewer.get(f"{BASE}/services/orders/instances?namespace=staging")
    assert [i["instanceId"] for i in r.json["items"]] == [iid]
    r = viewer.get(f"{BASE}/services/orders?namespace=staging")
    assert r.json["instanceCount"] == 1 and r.json["protectThreshold"] == 0.5
    assert viewer.get(f"{BASE}/namespaces").json["items"] == ["staging"]
    r = viewer.get(f"{BASE}/services?namespace=staging")
    assert r.json["total"] == 1 and r.json["items"][0]["name"] == "orders"
    # edits
    r = dev.patch(f"{BASE}/instances/{quote(iid)}?namespace=staging", json={"weight": 5, "enabled": False})
    assert r.status_code == 200 and r.json["weight"] == 5 and r.json["enabled"] is False
    r = viewer.get(f"{BASE}/services/orders/instances?namespace=staging&healthyOnly=true")
    assert r.json["items"] == []
    assert dev.delete(f"{BASE}/services/orders?namespace=staging").status_code == 409  # not empty
    assert dev.delete(f"{BASE}/instances/{quote(iid)}?namespace=staging").status_code == 204
    assert dev.delete(f"{BASE}/instances/{quote(iid)}?namespace=staging").status_code == 404
    assert dev.delete(f"{BASE}/services/orders?namespace=staging").status_code == 204
    assert viewer.get(f"{BASE}/services/orders?namespace=staging").status_code == 404


def test_service_paging(app, as_role):
    dev = as_role(app, "developer")
    for n in range(7):
        assert dev.post(f"{BASE}/services", json={"name": f"s{n}"}).status_code == 201
    r = dev.get(f"{BASE}/services?page=2&size=3")
    assert r.json["total"] == 7 and [i["name"] for i in r.json["items"]] == ["s3", "s4", "s5"]
    assert dev.get(f"{BASE}/services?size=0").json["details"]["field"] == "size"


@pytest.mark.parametrize("body,field", [
    ({"ip": "10.0.0.1"}, "port"),
    ({"ip": "not an ip!", "port": 80}, "ip"),
    ({"ip": "10.0.0.1", "port": 70000}, "port"),
    ({"ip": "10.0.0.1", "port": "eighty"}, "port"),
    ({"ip": "10.0.0.1", "port": 80, "weight": -1}, "weight"),
    ({"ip": "10.0.0.1", "port": 80, "weight": "heavy"}, "weight"),
    ({"ip": "10.0.0.1", "port": 80, "cluster": "a/b"}, "cluster"),
    ({"ip": "10.0.0.1", "port": 80, "metadata": "{not json"}, "metadata"),
    ({"ip": "10.0.0.1", "port": 80, "ephemeral": "maybe"}, "ephemeral"),
])
def test_bad_instance_input_names_the_field(app, as_role, body, field):
    r = as_role(app, "developer").post(f"{BASE}/services/orders/instances", json=body)
    assert r.status_code == 400, r.json
    assert r.json["details"]["field"] == field


def test_bad_names_and_unknowns(app, as_role):
    dev = as_role(app, "developer")
    r = dev.post(f"{BASE}/services", json={"name": "bad name"})
    assert r.status_code == 400 and r.json["details"]["field"] == "name"
    r = dev.get(f"{BASE}/services/orders/instances?namespace=a@@b")
    assert r.status_code == 400 and r.json["details"]["field"] == "namespace"
    assert dev.get(f"{BASE}/services/nope").status_code == 404
    assert dev.get(f"{BASE}/instances/{quote('10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@nope')}").status_code == 404
    r = dev.get(f"{BASE}/instances/garbage")
    assert r.status_code == 400 and r.json["details"]["field"] == "instanceId"
    r = dev.patch(f"{BASE}/instances/{quote('10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@nope')}", json={"colour": 1})
    assert r.status_code == 400 and r.json["details"]["field"] == "colour"


def test_auth(app, as_role):
    anon = app.test_client()
    assert anon.get(f"{BASE}/services").status_code == 401
    assert anon.post(f"{BASE}/services/x/instances", json={"ip": "10.0.0.1", "port": 1}).status_code == 401
    viewer = as_role(app, "viewer")
    assert viewer.get(f"{BASE}/services").status_code == 200
    assert viewer.post(f"{BASE}/services/x/instances", json={"ip": "10.0.0.1", "port": 1}).status_code == 403


def test_heartbeat_instance_over_native_api(app, as_role):
    dev = as_role(app, "developer")
    r = dev.post(f"{BASE}/services/hb/instances", json={"ip": "10.1.1.1", "port": 81, "ephemeral": True})
    assert r.json["source"] == "heartbeat"
    iid = quote(r.json["instanceId"])
    r = dev.put(f"{BASE}/instances/{iid}/beat")
    assert r.status_code == 200 and r.json["beatIntervalMs"] == 5000
    dev.delete(f"{BASE}/instances/{iid}")
    assert dev.put(f"{BASE}/instances/{iid}/beat").status_code == 404


def test_fixed_interface_for_the_orchestrator(naming):
    """The interface the orchestrator codes against: idempotent, namespaces need no creation."""
    md = {"managed-by": "shipway-orchestrator"}
    iid = naming.register_instance("web", "172.18.0.5", 8080, namespace="default", metadata=md)
    assert iid == "172.18.0.5#8080#DEFAULT#DEFAULT_GROUP@@web"
    from shipway.registry import paths
    version = naming.zk.get(paths.instance("default", "DEFAULT_GROUP", "web", iid))[1].version
    assert naming.register_instance("web", "172.18.0.5", 8080, namespace="default", metadata=md) == iid
    # the same record again is not a change: no write, no notification
    assert naming.zk.get(paths.instance("default", "DEFAULT_GROUP", "web", iid))[1].version == version
    naming.register_instance("web", "172.18.0.5", 8080, namespace="default", metadata=md, weight=2)
    assert naming.zk.get(paths.instance("default", "DEFAULT_GROUP", "web", iid))[1].version == version + 1
    naming.register_instance("web", "172.18.0.6", 8080, namespace="default", metadata=md, healthy=False)
    assert len(naming.list_instances("web", namespace="default")) == 2
    assert [i["ip"] for i in naming.list_instances("web", namespace="default", healthy_only=True)] == ["172.18.0.5"]
    naming.deregister_instance("web", "172.18.0.5", 8080, namespace="default")
    naming.deregister_instance("web", "172.18.0.5", 8080, namespace="default")  # absent: no error
    assert [i["ip"] for i in naming.list_instances("web", namespace="default")] == ["172.18.0.6"]
