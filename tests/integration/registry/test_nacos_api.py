"""The Nacos v1 naming API driven by plain HTTP, the way Nacos clients send it (form/query parameters)."""

from __future__ import annotations

import json

import pytest

from support.waiting import wait_for

pytestmark = pytest.mark.zookeeper

NS = "/nacos/v1/ns"


@pytest.fixture
def nacos(app, as_role):
    """A client that sends ``accessToken`` as a query parameter, like Nacos clients."""
    dev = as_role(app, "developer")
    client = app.test_client()

    class Nacos:
        token = dev.token

        def __getattr__(self, method):
            def call(path, **kw):
                q = kw.pop("query_string", {}) or {}
                q.setdefault("accessToken", self.token)
                return getattr(client, method)(path, query_string=q, **kw)
            return call

    return Nacos()


def test_register_list_detail_update_deregister(nacos):
    form = {"serviceName": "DEFAULT_GROUP@@nacos.test.1", "groupName": "DEFAULT_GROUP", "ip": "11.11.11.11",
            "port": "8848", "weight": "1.0", "enable": "true", "healthy": "true", "ephemeral": "false",
            "clusterName": "c1", "metadata": json.dumps({"k": "v"}), "namespaceId": "public"}
    r = nacos.post(f"{NS}/instance", data=form)
    assert r.status_code == 200 and r.text == "ok"
    r = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "nacos.test.1"})
    body = r.json
    assert body["name"] == "DEFAULT_GROUP@@nacos.test.1" and body["groupName"] == "DEFAULT_GROUP"
    assert {"cacheMillis", "checksum", "lastRefTime", "reachProtectionThreshold", "hosts"} <= set(body)
    host = body["hosts"][0]
    assert host == {**host, "instanceId": "11.11.11.11#8848#c1#DEFAULT_GROUP@@nacos.test.1", "ip": "11.11.11.11",
                    "port": 8848, "weight": 1.0, "healthy": True, "enabled": True, "ephemeral": False,
                    "clusterName": "c1", "serviceName": "DEFAULT_GROUP@@nacos.test.1", "metadata": {"k": "v"}}
    r = nacos.get(f"{NS}/instance", query_string={"serviceName": "nacos.test.1", "ip": "11.11.11.11",
                                                  "port": "8848", "cluster": "c1"})
    assert r.json["service"] == "DEFAULT_GROUP@@nacos.test.1" and r.json["metadata"] == {"k": "v"}
    r = nacos.put(f"{NS}/instance", data={**form, "weight": "3", "metadata": "a=1,b=2"})
    assert r.text == "ok"
    host = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "nacos.test.1"}).json["hosts"][0]
    assert host["weight"] == 3.0 and host["metadata"] == {"a": "1", "b": "2"}
    # clusters filter
    r = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "nacos.test.1", "clusters": "other"})
    assert r.json["hosts"] == []
    r = nacos.delete(f"{NS}/instance", query_string={"serviceName": "nacos.test.1", "ip": "11.11.11.11",
                                                     "port": "8848", "clusterName": "c1"})
    assert r.text == "ok"
    assert nacos.get(f"{NS}/instance/list", query_string={"serviceName": "nacos.test.1"}).json["hosts"] == []


def test_beat_protocol(nacos, naming):
    q = {"serviceName": "DEFAULT_GROUP@@beat.svc", "ip": "12.0.0.1", "port": "9000"}
    # unknown instance without a beat body: Nacos's 20404
    r = nacos.put(f"{NS}/instance/beat", query_string=dict(q))
    assert r.status_code == 200 and r.json["code"] == 20404
    beat = {"cluster": "DEFAULT", "ip": "12.0.0.1", "port": 9000, "metadata": {"preserved.heart.beat.interval": "2000"},
            "scheduled": True, "serviceName": "DEFAULT_GROUP@@beat.svc", "weight": 1.0, "period": 2000}
    r = nacos.put(f"{NS}/instance/beat", query_string={"serviceName": "DEFAULT_GROUP@@beat.svc",
                                                       "beat": json.dumps(beat)})
    assert r.json == {"clientBeatInterval": 2000, "code": 10200, "lightBeatEnabled": True}
    insts = naming.list_instances("beat.svc")
    assert len(insts) == 1 and insts[0]["ephemeral"] is True and insts[0]["source"] == "heartbeat"
    # light beat (no body) for a known instance
    assert nacos.put(f"{NS}/instance/beat", query_string=dict(q)).json["code"] == 10200


def test_service_crud_and_list(nacos):
    assert nacos.post(f"{NS}/service", data={"serviceName": "svc.a", "protectThreshold": "0.3",
                                             "metadata": '{"owner":"x"}'}).text == "ok"
    r = nacos.post(f"{NS}/service", data={"serviceName": "svc.a"})
    assert r.status_code == 400 and "already exists" in r.text
    r = nacos.get(f"{NS}/service", query_string={"serviceName": "svc.a"})
    assert r.json["name"] == "svc.a" and r.json["protectThreshold"] == 0.3 and r.json["metadata"] == {"owner": "x"}
    assert nacos.put(f"{NS}/service", data={"serviceName": "svc.a", "protectThreshold": "0.5"}).text == "ok"
    assert nacos.get(f"{NS}/service", query_string={"serviceName": "svc.a"}).json["protectThreshold"] == 0.5
    nacos.post(f"{NS}/service", data={"serviceName": "g2@@svc.b"})
    r = nacos.get(f"{NS}/service/list", query_string={"pageNo": "1", "pageSize": "10"})
    assert r.json == {"count": 1, "doms": ["svc.a"]}
    assert nacos.get(f"{NS}/service/list", query_string={"groupName": "g2", "pageNo": "1",
                                                         "pageSize": "10"}).json["doms"] == ["svc.b"]
    assert nacos.delete(f"{NS}/service", query_string={"serviceName": "svc.a"}).text == "ok"
    r = nacos.get(f"{NS}/service", query_string={"serviceName": "svc.a"})
    assert r.status_code == 404 and r.mimetype == "text/plain"
    r = nacos.delete(f"{NS}/service", query_string={"serviceName": "svc.a"})
    assert r.status_code == 400 and "not exist" in r.text


def test_nacos_errors_are_plain_text(nacos, app):
    r = nacos.post(f"{NS}/instance", data={"serviceName": "x", "port": "80"})
    assert r.status_code == 400 and r.text == "caused: Param 'ip' is required.;"
    r = nacos.post(f"{NS}/instance", data={"serviceName": "x", "ip": "1.2.3.4", "port": "99999"})
    assert r.status_code == 400 and "port" in r.text
    r = nacos.get(f"{NS}/instance", query_string={"serviceName": "nope", "ip": "1.2.3.4", "port": "80"})
    assert r.status_code == 404 and "no service" in r.text
    nacos.post(f"{NS}/instance", data={"serviceName": "x", "ip": "1.2.3.4", "port": "80"})
    r = nacos.get(f"{NS}/instance", query_string={"serviceName": "x", "ip": "1.2.3.5", "port": "80"})
    assert r.status_code == 404 and "no matched ip" in r.text
    r = nacos.put(f"{NS}/instance", data={"serviceName": "x", "ip": "1.2.3.5", "port": "80", "weight": "2"})
    assert r.status_code == 400 and "instance not exist" in r.text
    # unknown service lists as empty, like Nacos
    assert nacos.get(f"{NS}/instance/list", query_string={"serviceName": "ghost"}).json["hosts"] == []
    anon = app.test_client()
    assert anon.get(f"{NS}/instance/list", query_string={"serviceName": "x"}).status_code == 401
    assert anon.post(f"{NS}/instance", data={"serviceName": "x", "ip": "1.2.3.4", "port": "81"}).status_code == 401


def test_viewer_cannot_write(app, as_role):
    viewer = as_role(app, "viewer")
    r = app.test_client().post(f"{NS}/instance", query_string={"accessToken": viewer.token},
                               data={"serviceName": "x", "ip": "1.2.3.4", "port": "81"})
    assert r.status_code == 403
    r = app.test_client().get(f"{NS}/instance/list", query_string={"accessToken": viewer.token,
                                                                   "serviceName": "x"})
    assert r.status_code == 200


def test_cached_list_follows_changes_made_elsewhere(nacos, sdk, naming):
    """instance/list is served from a watch-fed cache: changes by other clients show up at once."""
    def hosts():
        return nacos.get(f"{NS}/instance/list", query_string={"serviceName": "elsewhere"}).json["hosts"]

    assert hosts() == []
    d = sdk()
    reg = d.register("elsewhere", "13.0.0.1", 80)
    wait_for(lambda: len(hosts()) == 1, timeout=5, message="an SDK registration")
    reg.update(weight=4)
    wait_for(lambda: hosts()[0]["weight"] == 4.0, timeout=5, message="a weight change made by the SDK")
    reg.update(enabled=False)
    wait_for(lambda: hosts() == [], timeout=5, message="a disabled instance leaves the list")
    reg.update(enabled=True)
    wait_for(lambda: len(hosts()) == 1, timeout=5, message="enabled again")
    reg.deregister()
    wait_for(lambda: hosts() == [], timeout=5, message="deregistered")


def test_openapi_lists_the_naming_paths(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert "/api/v1/naming/services/{name}/instances" in doc["paths"]
    assert "NamingInstance" in doc["components"]["schemas"]


def test_protect_threshold_on_the_list(nacos, naming):
    nacos.post(f"{NS}/service", data={"serviceName": "guarded", "protectThreshold": "0.5"})
    for n, healthy in ((1, "true"), (2, "false"), (3, "false")):
        nacos.post(f"{NS}/instance", data={"serviceName": "guarded", "ip": f"14.0.0.{n}", "port": "80",
                                           "ephemeral": "false", "healthy": healthy,
                                           "metadata": '{"shipway.health.check":"none"}'})
    body = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "guarded", "healthyOnly": "true"}).json
    assert body["reachProtectionThreshold"] is True and len(body["hosts"]) == 3
    assert all(h["healthy"] for h in body["hosts"])  # served as healthy, as Nacos does
    all_hosts = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "guarded"}).json["hosts"]
    assert len(all_hosts) == 3
    nacos.put(f"{NS}/service", data={"serviceName": "guarded", "protectThreshold": "0"})
    body = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "guarded", "healthyOnly": "true"}).json
    assert body["reachProtectionThreshold"] is False and [h["ip"] for h in body["hosts"]] == ["14.0.0.1"]
    all_hosts = nacos.get(f"{NS}/instance/list", query_string={"serviceName": "guarded"}).json["hosts"]
    assert [h["healthy"] for h in all_hosts] == [True, False, False]


def test_fast_lane_answers_exactly_as_flask(app, as_role, monkeypatch):
    """The hot calls (register, beat, deregister) are answered by the server's fast lane; the same requests
    through Flask (the lane bypassed) get the same status, content type and body, good or bad."""
    dev = as_role(app, "developer")
    lane = app.extensions["fastlane"]
    assert {(r.method, r.path) for r in lane.routes.values()} == {
        ("POST", f"{NS}/instance"), ("DELETE", f"{NS}/instance"), ("PUT", f"{NS}/instance/beat")}
    beat = json.dumps({"ip": "10.9.0.{n}", "port": 80, "serviceName": "DEFAULT_GROUP@@lane{n}", "cluster": "DEFAULT"})
    calls = [  # (method, path, form); {n} differs between the two runs so that both start from the same state
        ("post", "/instance", {"serviceName": "lane{n}", "ip": "10.9.0.{n}", "port": "80", "ephemeral": "false"}),
        ("post", "/instance", {"serviceName": "lane{n}", "ip": "10.9.0.999", "port": "80"}),      # bad ip
        ("post", "/instance", {"serviceName": "lane{n}", "ip": "10.9.0.{n}"}),                    # no port
        ("post", "/instance", {"serviceName": "bad name{n}", "ip": "10.9.0.{n}", "port": "80"}),  # bad name
        ("put", "/instance/beat", {"serviceName": "lane{n}", "ip": "10.9.1.{n}", "port": "80"}),  # unknown: 20404
        ("put", "/instance/beat", {"serviceName": "lane{n}", "beat": beat}),                       # registers it
        ("put", "/instance/beat", {"serviceName": "lane{n}", "beat": "{not json"}),
        ("delete", "/instance", {"serviceName": "lane{n}", "ip": "10.9.0.{n}", "port": "80"}),
        ("delete", "/instance", {"serviceName": "lane{n}", "ip": "10.9.2.{n}", "port": "80"}),     # unknown
    ]

    def run(n: int) -> list:
        out = []
        for method, path, form in calls:
            data = {k: v.replace("{n}", str(n)) for k, v in form.items()}
            r = getattr(app.test_client(), method)(f"{NS}{path}", data=data, query_string={"accessToken": dev.token})
            out.append((method, path, r.status_code, r.content_type, r.data.replace(str(n).encode(), b"N")))
        return out
    with monkeypatch.context() as m:  # the lane answers every one of them: Flask's views are never reached
        for name in ("register", "deregister", "beat"):
            m.setitem(app.view_functions, f"nacos_naming.{name}", lambda: pytest.fail("reached Flask"))
        through_lane = run(6)
    app.wsgi_app = lane.app  # Flask alone
    try:
        through_flask = run(7)
    finally:
        app.wsgi_app = lane
    assert through_lane == through_flask
    assert [c[2] for c in through_lane] == [200, 400, 400, 400, 200, 200, 400, 200, 200]
