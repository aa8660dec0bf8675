"""The native REST API against a real ZooKeeper: publish/get/CAS/delete/history/diff/rollback/beta/audit."""

from __future__ import annotations

import pytest

from shipway.config_center.paths import config_path, decode

pytestmark = pytest.mark.zookeeper

URL = "/api/v1/configs/public/DEFAULT_GROUP/app.yaml"


def test_publish_get_update_cas_delete(app, as_role, zk):
    dev = as_role(app, "developer")
    r = dev.put(URL, json={"content": "a: 1\n", "type": "yaml", "desc": "the app", "tags": ["x", "y"]})
    assert r.status_code == 201, r.json
    first = r.json
    assert first["version"] == 1 and first["op"] == "created" and r.headers["Content-MD5"] == first["md5"]
    # the znode holds the value with its header, readable in one get
    value = decode(zk.get(config_path("public", "DEFAULT_GROUP", "app.yaml"))[0])
    assert value.content == "a: 1\n" and value.version == 1 and value.type == "yaml"

    r = dev.put(URL, json={"content": "a: 2\n", "type": "yaml", "casMd5": first["md5"]})
    assert r.status_code == 200 and r.json["version"] == 2 and r.json["tags"] == ["x", "y"]
    # stale CAS → 409, nothing changes
    r = dev.put(URL, json={"content": "a: 3\n", "type": "yaml", "casMd5": first["md5"]})
    assert r.status_code == 409
    got = dev.get(URL)
    assert got.json["content"] == "a: 2\n" and got.headers["Config-Type"] == "yaml"
    raw = dev.get(URL + "?raw=1")
    assert raw.data == b"a: 2\n" and raw.headers["Content-MD5"] == got.json["md5"]

    assert dev.delete(URL).json["version"] == 3
    assert dev.get(URL).status_code == 404
    # re-created after delete: the version keeps growing
    assert dev.put(URL, json={"content": "a: 4\n", "type": "yaml"}).json["version"] == 4
    hist = dev.get(URL + "/history").json
    assert [h["version"] for h in hist["items"]] == [4, 3, 2, 1]
    assert [h["op"] for h in hist["items"]] == ["created", "deleted", "updated", "created"]
    assert hist["items"][0]["author"] == "developer-user"


def test_bad_input_changes_nothing(app, as_role, zk):
    dev = as_role(app, "developer")
    assert dev.put(URL, json={"content": "{}", "type": "json"}).status_code == 201
    cases = [
        ("/api/v1/configs/public/DEFAULT_GROUP/bad%20id", {"content": "x"}, 400, "dataId"),
        ("/api/v1/configs/public/bad$group/x", {"content": "x"}, 400, "group"),
        (URL, {"content": '{"a": 1,\n  "b": }', "type": "json"}, 400, None),
        (URL, {"content": "x" * 1_000_001}, 413, None),
        (URL, {"content": "[]", "type": "json", "casMd5": "0" * 32}, 409, None),
        (URL, {"content": "x", "type": "nope"}, 400, "type"),
        (URL, {}, 400, "content"),
    ]
    for url, body, status, field in cases:
        r = dev.put(url, json=body)
        assert r.status_code == status, (url, r.json)
        if field:
            assert r.json["details"]["field"] == field
    r = dev.put(URL, json={"content": '{"a": 1,\n  "b": }', "type": "json"})
    err = r.json["details"]["errors"][0]
    assert (err["line"], err["column"]) == (2, 8) and "line 2:8" in r.json["message"]
    assert dev.put(URL, json={"content": "x" * 1_000_001}).json["details"]["limit"] == 1_000_000
    # nothing stored
    assert dev.get(URL).json["version"] == 1
    assert dev.get(URL + "/history").json["total"] == 1
    # auth
    assert app.test_client().get(URL, headers={"Accept": "application/json"}).status_code == 401
    assert as_role(app, "viewer").put(URL, json={"content": "{}"}).status_code == 403
    assert as_role(app, "developer").get("/api/v1/configs/audit").status_code == 403
    assert as_role(app, "viewer").get(URL + "/nope").status_code == 404


@pytest.mark.parametrize("type_,good,bad,where", [
    ("yaml", "a:\n  b: 1\n", "a: 1\n b: 2\n  - c\n", (2, 3)),
    ("toml", "a = 1\n", "a = 1\nb = \n", (2, 5)),
    ("xml", "<a><b/></a>", "<a>\n<b></a>", (2, 6)),
    ("properties", "a=1\nb = \\u0041\n", "a=1\nb=\\u00zz\n", (2, 3)),
])
def test_typed_validation(app, as_role, type_, good, bad, where):
    dev = as_role(app, "developer")
    url = f"/api/v1/configs/public/G/c.{type_}"
    assert dev.put(url, json={"content": good, "type": type_}).status_code == 201
    r = dev.put(url, json={"content": bad, "type": type_})
    assert r.status_code == 400, r.json
    err = r.json["details"]["errors"][0]
    assert (err["line"], err["column"]) == where, err


def test_history_diff_rollback_list_audit(app, as_role):
    dev = as_role(app, "developer")
    for i in range(3):
        dev.put(URL, json={"content": f"a: {i}\nb: same\n", "type": "yaml"})
    d = dev.get(URL + "/diff?from=1&to=3").json
    assert "-a: 0" in d["diff"] and "+a: 2" in d["diff"]
    assert dev.get(URL + "/history/1").json["content"] == "a: 0\nb: same\n"
    r = dev.post(URL + "/rollback", json={"version": 1})
    assert r.status_code == 200 and r.json["version"] == 4 and r.json["content"] == "a: 0\nb: same\n"
    dev.put("/api/v1/configs/team/G2/db.json", json={"content": "{}", "type": "json", "tags": ["db"]})
    lst = dev.get("/api/v1/configs?dataId=*.json").json
    assert [i["dataId"] for i in lst["items"]] == ["db.json"]
    assert dev.get("/api/v1/configs?tags=db").json["total"] == 1
    assert dev.get("/api/v1/configs?namespace=public&size=1").json["total"] == 1
    ns = {n["namespace"] for n in dev.get("/api/v1/configs/namespaces").json["items"]}
    assert ns == {"public", "team"}
    assert dev.delete("/api/v1/configs/namespaces/team").status_code == 409
    assert dev.post("/api/v1/configs/namespaces", json={"namespace": "empty"}).status_code == 201
    assert dev.delete("/api/v1/configs/namespaces/empty").status_code == 200
    audit = as_role(app, "admin").get("/api/v1/configs/audit?dataId=app.yaml").json
    assert [a["action"] for a in audit["items"]][:1] == ["rollback"]
    assert audit["items"][0]["actor"] == "developer-user" and audit["items"][0]["sourceIp"] == "127.0.0.1"


def test_beta_by_ip_and_labels(app, as_role):
    dev = as_role(app, "developer")
    dev.put(URL, json={"content": "main", "type": "text"})
    r = dev.put(URL + "/beta", json={"content": "beta", "ips": ["10.9.9.9"], "labels": {"canary": "yes"}})
    assert r.status_code == 200, r.json
    assert dev.get(URL).json["content"] == "main"  # 127.0.0.1 is not in the beta
    assert dev.get(URL, headers={"X-Shipway-Labels": "canary=yes,zone=a"}).json["content"] == "beta"
    assert dev.get(URL, environ_overrides={"REMOTE_ADDR": "10.9.9.9"}).json["beta"] is True
    assert dev.post(URL + "/beta/promote").json["content"] == "beta"
    assert dev.get(URL + "/beta").status_code == 404
    assert dev.get(URL).json["content"] == "beta"
    dev.put(URL + "/beta", json={"content": "b2", "ips": "10.1.1.1"})
    assert dev.delete(URL + "/beta").status_code == 200
    assert dev.get(URL, environ_overrides={"REMOTE_ADDR": "10.1.1.1"}).json["content"] == "beta"
    assert dev.put(URL + "/beta", json={"content": "x"}).status_code == 400


def test_openapi_document(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert "/api/v1/configs/{namespace}/{group}/{dataId}" in doc["paths"]
    assert doc["openapi"].startswith("3.")


def test_namespace_write_role(app, as_role):
    dev, admin = as_role(app, "developer"), as_role(app, "admin")
    assert dev.post("/api/v1/configs/namespaces", json={"namespace": "prod", "writeRole": "admin"}).status_code == 403
    r = admin.post("/api/v1/configs/namespaces", json={"namespace": "prod", "writeRole": "admin"})
    assert r.status_code == 201 and r.json["writeRole"] == "admin"
    url = "/api/v1/configs/prod/G/db.url"
    r = dev.put(url, json={"content": "x"})
    assert r.status_code == 403 and "admin" in r.json["message"]
    assert admin.put(url, json={"content": "x"}).status_code == 201
    assert dev.get(url).json["content"] == "x"  # reads stay open to viewers
    assert dev.delete(url).status_code == 403 and dev.post(url + "/rollback", json={"version": 1}).status_code == 403
    form = {"dataId": "db.url", "group": "G", "tenant": "prod", "content": "y"}
    assert dev.post("/nacos/v1/cs/configs", data=form).status_code == 403
    assert dev.put("/api/v1/configs/namespaces/prod", json={"writeRole": "developer"}).status_code == 403
    assert admin.put("/api/v1/configs/namespaces/prod", json={"writeRole": "developer"}).status_code == 200
    assert dev.put(url, json={"content": "z"}).status_code == 200
    assert dev.get(url).json["version"] == 2


def test_fast_lane_answers_publishes_exactly_as_flask(app, as_role, monkeypatch):
    """``PUT /api/v1/configs/…`` is answered by the server's fast lane; the same requests through Flask (the
    lane bypassed) get the same status, headers and body, good or bad — and the lane leaves to Flask what
    it does not take (no token's role, a body that is not a JSON object)."""
    import json
    import re

    from shipway.config_center.paths import md5_of

    dev, viewer = as_role(app, "developer"), as_role(app, "viewer")
    lane = app.extensions["fastlane"]
    url = "/api/v1/configs/public/LANE/d{n}"
    calls = [  # (url, raw body, content type, extra headers, token); {n} differs between the two runs
        (url, {"content": "a=1\n", "type": "properties", "desc": "d", "tags": ["x"]}, {}),          # 201
        (url, {"content": "a=2\n", "type": "properties", "casMd5": md5_of("a=1\n")}, {}),          # 200
        (url, {"content": "a=3\n", "casMd5": md5_of("a=1\n")}, {}),                               # 409
        (url, {"content": "a=3\n"}, {"If-Match": md5_of("stale")}),                                # 409
        (url, {"content": "x", "type": "nope"}, {}),                                               # 400 type
        (url, {"content": '{"a": 1,\n "b": }', "type": "json"}, {}),                               # 400 line:col
        (url, {"type": "text"}, {}),                                                               # 400 content
        ("/api/v1/configs/public/LANE/bad%20id{n}", {"content": "x"}, {}),                         # 400 dataId
        ("/api/v1/configs/public/LANE/d{n}", {"content": "é ü \u2603"}, {}),                       # 200, non-ASCII
    ]
    flask_only = [  # the lane declines these; Flask answers them in both runs
        (url, "[1, 2]", "application/json", dev),       # not an object
        (url, '{"content": ', "application/json", dev),  # not JSON
        (url, "", "application/json", dev),              # no body
        (url, '{"content": "v"}', "application/json", viewer),  # a role that may not write: 403
    ]

    def run(n: str) -> list:  # n: found nowhere else in the answers
        def norm(r) -> tuple:
            body = re.sub(rb'"time":"[^"]*"', b'"time":"T"', r.data).replace(n.encode(), b"N")
            headers = {h: r.headers.get(h) for h in ("Content-MD5", "Config-Type", "Config-Version")}
            return r.status_code, r.content_type, headers, body

        client, out = app.test_client(), []
        for path, body, headers in calls:
            r = client.put(path.replace("{n}", n), data=json.dumps(body), content_type="application/json",
                           headers={"Authorization": f"Bearer {dev.token}", **headers})
            out.append(norm(r))
        for path, raw, ctype, who in flask_only:
            r = client.put(path.replace("{n}", n), data=raw, content_type=ctype,
                           headers={"Authorization": f"Bearer {who.token}"})
            out.append(norm(r))
        return out

    with monkeypatch.context() as m:  # the lane answers the first calls: Flask's view sees only the rest
        reached = []
        original = app.view_functions["config_api.put_config"]
        m.setitem(app.view_functions, "config_api.put_config", lambda **kw: (reached.append(1), original(**kw))[1])
        through_lane = run("qqa")
        assert len(reached) == len(flask_only)
    app.wsgi_app = lane.app  # Flask alone
    try:
        through_flask = run("qqb")
    finally:
        app.wsgi_app = lane
    assert through_lane == through_flask
    assert [c[0] for c in through_lane] == [201, 200, 409, 409, 400, 400, 400, 400, 200, 400, 400, 400, 403]
    assert through_lane[0][2]["Config-Version"] == "1" and through_lane[0][3].endswith(b"}\n")
