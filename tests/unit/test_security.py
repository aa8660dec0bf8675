"""401 / 403 / CSRF and the JSON error shape, through the real Flask app."""

import os
import re


def test_unauthenticated_api_is_401(unit_app):
    r = unit_app.test_client().get("/api/v1/users")
    assert r.status_code == 401
    assert r.json["error"] == "unauthorized" and "Bearer" in r.json["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_role_is_403(unit_app, as_role):
    r = as_role(unit_app, "viewer").get("/api/v1/users")
    assert r.status_code == 403
    assert r.json["details"] == {"needed": "admin", "role": "viewer"}
    assert as_role(unit_app, "admin").get("/api/v1/users").status_code == 200


def test_bad_token_is_401(unit_app):
    r = unit_app.test_client().get("/api/v1/whoami", headers={"Authorization": "Bearer swt_nope"})
    assert r.status_code == 401 and "invalid" in r.json["message"]


def test_nacos_style_access_token_param(unit_app, as_role):
    token = as_role(unit_app, "viewer").token
    r = unit_app.test_client().get(f"/api/v1/whoami?accessToken={token}")
    assert r.status_code == 200 and r.json["username"] == "viewer-user"


def test_unknown_path_and_method_answer_json(unit_app, as_role):
    c = as_role(unit_app, "viewer")
    r = c.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.is_json and "no such path" in r.json["message"]
    r = c.open("/api/v1/whoami", method="DELETE")
    assert r.status_code == 405 and r.is_json and "GET" in r.json["message"]


def test_bad_json_body_is_400(unit_app, as_role):
    r = as_role(unit_app, "admin").post("/api/v1/users", data="{not json", content_type="application/json")
    assert r.status_code == 400 and "not valid JSON at line 1" in r.json["message"]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_login_form_requires_csrf(unit_app, unit_ctx):
    unit_ctx.users.add("ann", "password1", "viewer")
    c = unit_app.test_client()
    r = c.post("/login", data={"username": "ann", "password": "password1"})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    token = _csrf(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"username": "ann", "password": "password1", "csrf_token": token})
    assert r.status_code == 302
    assert c.get("/api/v1/whoami").json == {"username": "ann", "role": "viewer", "via": "session"}


def test_session_post_without_csrf_rejected(unit_app, unit_ctx):
    unit_ctx.users.add("root2", "password1", "admin")
    c = unit_app.test_client()
    token = _csrf(c.get("/login").get_data(as_text=True))
    c.post("/login", data={"username": "root2", "password": "password1", "csrf_token": token})
    r = c.post("/api/v1/tokens", json={"name": "x"})
    assert r.status_code == 400 and r.json["error"] == "csrf_failed"
    token = _csrf(c.get("/", headers={"Accept": "text/html"}).get_data(as_text=True))  # new session, new token
    r = c.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRFToken": token})
    assert r.status_code == 201
    r = c.post("/logout")
    assert r.status_code == 400  # logging out is a form post too


def test_wrong_password_and_open_redirect(unit_app, unit_ctx):
    unit_ctx.users.add("eve", "password1", "viewer")
    c = unit_app.test_client()
    token = _csrf(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"username": "eve", "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and "Wrong username or password" in r.get_data(as_text=True)
    r = c.post("/login?next=//evil.example/x", data={"username": "eve", "password": "password1",
                                                     "csrf_token": token})
    assert r.headers["Location"] == "/"


def test_pages_redirect_to_login(unit_app):
    r = unit_app.test_client().get("/", headers={"Accept": "text/html"})
    assert r.status_code == 302 and "/login?next=/" in r.headers["Location"]


def test_tokens_api(unit_app, as_role):
    dev = as_role(unit_app, "developer")
    r = dev.post("/api/v1/tokens", json={"name": "laptop", "ttl_seconds": 3600})
    assert r.status_code == 201 and r.json["token"].startswith("swt_")
    assert any(t["name"] == "laptop" for t in dev.get("/api/v1/tokens").json["items"])
    assert dev.post("/api/v1/tokens", json={"username": "admin"}).status_code == 403
    assert dev.delete(f"/api/v1/tokens/{r.json['id']}").status_code == 204


def test_healthz_is_public_and_has_request_id(unit_app):
    r = unit_app.test_client().get("/healthz", headers={"X-Request-Id": "abc123"})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "abc123"


def test_requests_without_an_id_get_distinct_ones(unit_app):
    client = unit_app.test_client()
    ids = [client.get("/healthz").headers["X-Request-Id"] for _ in range(3)]
    assert len(set(ids)) == 3 and all(len(i) == 20 and int(i, 16) >= 0 for i in ids)
    assert len({i[:12] for i in ids}) == 1  # one process: one prefix, then a counter


def test_a_forked_process_numbers_its_requests_under_a_new_prefix():
    from shipway.server import ops
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its first id and leaves at once
        os.write(w, ops.new_request_id().encode())
        os._exit(0)
    os.close(w)
    child_id = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert child_id[:12] != ops.new_request_id()[:12]


def test_readyz_reports_each_dependency_down(unit_app):
    r = unit_app.test_client().get("/readyz")
    assert r.status_code == 503
    checks = r.json["checks"]
    assert set(checks) >= {"zookeeper", "store", "docker", "registry"}
    assert checks["store"]["ok"] and not checks["zookeeper"]["ok"] and not checks["registry"]["ok"]


def test_metrics(unit_app):
    unit_app.test_client().get("/healthz")
    r = unit_app.test_client().get("/metrics")
    assert r.status_code == 200 and b"shipway_http_requests_total" in r.data


def test_forged_or_foreign_session_cookie_is_no_session(unit_app, unit_ctx):
    """Requests without the cookie skip the signer (CookieSessions); a cookie that is there is still verified:
    a forged one, or one signed with another key, is no identity (and no error)."""
    from itsdangerous import URLSafeTimedSerializer
    unit_ctx.users.add("mallory", "password1", "admin")
    uid = unit_ctx.users.authenticate("mallory", "password1").user_id
    c = unit_app.test_client()
    c.set_cookie("shipway_session", "eyJ1c2VyX2lkIjoxfQ.forged.signature")
    assert c.get("/api/v1/whoami").status_code == 401
    other = URLSafeTimedSerializer("another-key", salt="cookie-session",
                                   signer_kwargs={"key_derivation": "hmac", "digest_method": "sha1"})
    c.set_cookie("shipway_session", other.dumps({"user_id": uid}))
    assert c.get("/api/v1/whoami").status_code == 401
    good = unit_app.session_interface.get_signing_serializer(unit_app).dumps({"user_id": uid})
    c.set_cookie("shipway_session", good)  # the control: the same content signed with the app's key
    assert c.get("/api/v1/whoami").json == {"username": "mallory", "role": "admin", "via": "session"}
    c.delete_cookie("shipway_session")
    assert c.get("/api/v1/whoami").status_code == 401
