"""The naming APIs and page without ZooKeeper: routes exist, input is checked first, outages are 503."""

from __future__ import annotations


def test_without_zookeeper_answers_503_in_each_protocol(unit_app, as_role):
    viewer = as_role(unit_app, "viewer")
    r = viewer.get("/api/v1/naming/services")
    assert r.status_code == 503 and r.json["error"] == "unavailable"
    r = viewer.get("/nacos/v1/ns/instance/list", query_string={"serviceName": "x"})
    assert r.status_code == 503 and r.mimetype == "text/plain" and r.text.startswith("caused: ")
    html = viewer.get("/services/", headers={"Accept": "text/html"})
    assert html.status_code == 200 and "ZooKeeper" in html.get_data(as_text=True)


def test_bad_input_is_rejected_before_zookeeper(unit_app, as_role):
    dev = as_role(unit_app, "developer")
    r = dev.post("/api/v1/naming/services/orders/instances", json={"ip": "10.0.0.1", "port": 0})
    assert r.status_code == 400 and r.json["details"]["field"] == "port"
    r = dev.post("/nacos/v1/ns/instance", data={"serviceName": "orders", "ip": "10.0.0.1"})
    assert r.status_code == 400 and r.text == "caused: Param 'port' is required.;"


def test_services_is_in_the_navigation(unit_app, as_role):
    html = as_role(unit_app, "viewer").get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/services/"' in html
