"""The WSGI fast lane (server/fastlane.py): what it takes, what it leaves to Flask, and that both answer alike."""

from __future__ import annotations

import json

import pytest
from flask import Flask, request

from shipway.core.auth import Identity
from shipway.core.errors import BadRequest
from shipway.server import ops
from shipway.server.fastlane import JSON, TEXT, FastLane, Route, json_answer

TOKENS = {"dev-token": Identity(1, "dev", "developer", "token"), "view-token": Identity(2, "viewer", "viewer", "token")}


class Users:
    def resolve_token(self, token: str):
        return TOKENS.get(token)


def _app(calls: list):
    """A Flask app whose /lane view records that FLASK answered (with the form it saw), behind a lane."""
    app = Flask("lane-test")

    @app.route("/lane", methods=["POST", "PUT"])
    def flask_view():
        calls.append(("flask", request.form.to_dict(), request.args.to_dict()))
        return "flask"

    def handler(call):
        values = call.values
        calls.append(("lane", dict(values)))
        if values.get("fail") == "bad":
            raise BadRequest("ip is not valid", field="ip")
        if values.get("fail") == "crash":
            raise RuntimeError("boom")
        return json_answer({"got": values.get("a")})

    lane = FastLane(app.wsgi_app, Users())
    lane.add(Route("POST", "/lane", "lane.view", "developer", handler,
                   lambda e: (400, TEXT, f"caused: {e.message};".encode())))
    app.wsgi_app = lane
    return app


@pytest.fixture
def calls():
    return []


@pytest.fixture
def client(calls):
    return _app(calls).test_client()


def test_takes_the_happy_path(client, calls):
    r = client.post("/lane?a=from-query", data="a=from-form&b=1&b=2", content_type="application/x-www-form-urlencoded",
                    headers={"Authorization": "Bearer dev-token", "X-Request-Id": "rid-1"})
    assert r.status_code == 200 and r.mimetype == JSON and r.get_json() == {"got": "from-query"}
    assert r.headers["X-Request-Id"] == "rid-1"
    assert calls == [("lane", {"a": "from-query", "b": "1"})]  # the query wins; a repeated name keeps its first value


def test_access_token_as_query_or_form_parameter(client, calls):
    assert client.post("/lane", query_string={"accessToken": "dev-token", "a": "q"}).status_code == 200
    r = client.post("/lane", data={"accessToken": "dev-token", "a": "f%20x+y"})
    assert r.get_json() == {"got": "f%20x+y"} and [c[0] for c in calls] == ["lane", "lane"]
    assert r.headers["X-Request-Id"]  # one of its own


def test_counts_and_logs_like_flask(client, caplog):
    before = ops.REQUESTS.labels("POST", "lane.view", "200")._value.get()
    with caplog.at_level("INFO", logger="shipway.server.ops"):
        client.post("/lane", data={"a": "1"}, headers={"Authorization": "Bearer dev-token"})
    assert ops.REQUESTS.labels("POST", "lane.view", "200")._value.get() == before + 1
    assert any(r.getMessage().startswith("POST /lane 200 ") for r in caplog.records)


@pytest.mark.parametrize("kwargs", [
    {"data": {"a": "1"}},                                                           # nobody: Flask answers (401)
    {"data": {"a": "1", "accessToken": "nope"}},                                    # a bad token
    {"headers": {"Authorization": "Bearer view-token"}},                            # a role too small
    {"headers": {"Authorization": "Bearer dev-token", "Content-Type": "application/json"}, "data": '{"a": "1"}'},
    {"headers": {"Authorization": "Bearer dev-token"}, "data": {"a": "x" * (70 << 10)}},  # a large body
])
def test_leaves_the_rest_to_flask_with_the_body_intact(client, calls, kwargs):
    kwargs = dict(kwargs)
    data = kwargs.pop("data", {"a": "1"})
    r = client.post("/lane", data=data, **kwargs)
    assert r.data == b"flask"
    assert calls[-1][0] == "flask" and all(c[0] == "flask" for c in calls)
    if isinstance(data, dict):
        assert calls[-1][1] == data  # Flask read the whole form the lane had read first


def test_other_methods_and_paths_go_to_flask(client, calls):
    assert client.put("/lane", data={"a": "1"}, headers={"Authorization": "Bearer dev-token"}).data == b"flask"
    assert client.post("/lane/", headers={"Authorization": "Bearer dev-token"}).status_code in (404, 308)
    assert [c[0] for c in calls] == ["flask"]


def test_errors_get_the_routes_answer_and_crashes_a_json_500(client, calls):
    r = client.post("/lane", data={"fail": "bad"}, headers={"Authorization": "Bearer dev-token"})
    assert (r.status_code, r.data) == (400, b"caused: ip is not valid;")
    r = client.post("/lane", data={"fail": "crash"}, headers={"Authorization": "Bearer dev-token"})
    assert r.status_code == 500 and json.loads(r.data)["error"] == "internal_error"
    assert r.headers["X-Request-Id"]


def test_a_failing_token_lookup_is_left_to_flask(calls, monkeypatch):
    app = _app(calls)

    def broken(_token):
        raise RuntimeError("store unavailable")
    monkeypatch.setattr(Users, "resolve_token", lambda self, t: broken(t))
    r = app.test_client().post("/lane", data={"a": "1"}, headers={"Authorization": "Bearer dev-token"})
    assert r.data == b"flask" and calls[-1][0] == "flask"


def _json_app(calls: list):
    """A Flask app with a JSON route whose path has parameters, behind a lane (``allowed`` only for ``ns``
    other than "locked"; "boom" makes the check itself fail)."""
    app = Flask("lane-json-test")

    @app.route("/items/<ns>/<name>", methods=["PUT"])
    def flask_view(ns, name):
        calls.append(("flask", ns, name, request.get_data()))
        return "flask"

    def handler(call):
        calls.append(("lane", call.params, call.json, call.header("If-Match"), call.remote_addr))
        return 201, JSON, b"{}", [("X-Extra", call.params["name"])]

    def allowed(call):
        if call.params["ns"] == "boom":
            raise RuntimeError("lookup failed")
        return call.params["ns"] != "locked"

    lane = FastLane(app.wsgi_app, Users())
    lane.add(Route("PUT", "/items/<ns>/<name>", "items.put", "developer", handler,
                   lambda e: (400, JSON, b"{}"), body="json", allowed=allowed))
    app.wsgi_app = lane
    return app


def test_a_json_route_with_path_parameters(calls):
    client = _json_app(calls).test_client()
    r = client.put("/items/a/b%C3%A9.c", json={"content": "x"},
                   headers={"Authorization": "Bearer dev-token", "If-Match": "abc"})
    assert r.status_code == 201 and r.headers["X-Extra"] == "bé.c" and r.headers["X-Request-Id"]
    assert calls == [("lane", {"ns": "a", "name": "bé.c"}, {"content": "x"}, "abc", "127.0.0.1")]


@pytest.mark.parametrize("path, body, ctype", [
    ("/items/a/b", "[1]", "application/json"),            # not an object
    ("/items/a/b", '{"a": ', "application/json"),         # not JSON: Flask says where
    ("/items/a/b", "", "application/json"),               # no body
    ("/items/a/b", "a=1", "application/x-www-form-urlencoded"),  # not JSON at all
    ("/items/locked/b", '{"a": 1}', "application/json"),  # the route's own check says no (Flask's 403)
    ("/items/boom/b", '{"a": 1}', "application/json"),    # the check itself failed
])
def test_a_json_route_leaves_the_rest_to_flask_with_the_body_intact(calls, path, body, ctype):
    client = _json_app(calls).test_client()
    r = client.put(path, data=body, content_type=ctype, headers={"Authorization": "Bearer dev-token"})
    assert r.data == b"flask" and calls[-1][0] == "flask" and calls[-1][3] == body.encode()


def test_a_path_that_does_not_fit_the_pattern_goes_to_flask(calls):
    client = _json_app(calls).test_client()
    r = client.put("/items/a/b/c", json={}, headers={"Authorization": "Bearer dev-token"})
    assert r.status_code == 404 and calls == []
