"""/api/v1/projects: roles, secrets shown once, webhook URLs, deliveries."""

from __future__ import annotations

import pytest

from unit.webhook.conftest import Sender, fixture_bytes


@pytest.fixture
def dev(unit_app, as_role):
    return as_role(unit_app, "developer")


@pytest.fixture
def viewer(unit_app, as_role):
    return as_role(unit_app, "viewer")


def test_anonymous_is_401(unit_app):
    c = unit_app.test_client()
    assert c.get("/api/v1/projects").status_code == 401
    assert c.post("/api/v1/projects", json={"name": "a", "repo_url": "/x"}).status_code == 401


def test_viewer_reads_but_cannot_write(unit_app, dev, viewer):
    assert dev.post("/api/v1/projects", json={"name": "app", "repo_url": "/srv/app.git"}).status_code == 201
    assert viewer.get("/api/v1/projects").status_code == 200
    assert viewer.get("/api/v1/projects/app").status_code == 200
    assert viewer.post("/api/v1/projects", json={"name": "b", "repo_url": "/x"}).status_code == 403
    assert viewer.patch("/api/v1/projects/app", json={"branches": ["main"]}).status_code == 403
    assert viewer.delete("/api/v1/projects/app").status_code == 403
    assert viewer.post("/api/v1/projects/app/webhook-secret").status_code == 403


def test_secret_shown_once(dev, viewer):
    r = dev.post("/api/v1/projects", json={"name": "app", "repo_url": "https://x.invalid/a.git",
                                           "secrets": {"TOKEN": "t0ps3cret"},
                                           "credentials": {"username": "u", "password": "pw-value"}})
    created = r.get_json()
    secret = created["webhook_secret"]
    assert r.status_code == 201 and len(secret) >= 32 and r.headers["Cache-Control"] == "no-store"
    assert created["webhooks"]["github"] == "http://localhost/webhooks/github/app"
    assert set(created["webhooks"]) == {"github", "gitlab", "gitea", "gogs", "bitbucket", "generic"}
    for client in (dev, viewer):
        for body in (client.get("/api/v1/projects/app").get_data(as_text=True),
                     client.get("/api/v1/projects").get_data(as_text=True)):
            assert secret not in body and "t0ps3cret" not in body and "pw-value" not in body
            assert "********" in body
    rotated = dev.post("/api/v1/projects/app/webhook-secret").get_json()["webhook_secret"]
    assert rotated != secret and len(rotated) >= 32


def test_errors(dev):
    assert dev.post("/api/v1/projects", json={"repo_url": "/x"}).status_code == 400
    assert dev.post("/api/v1/projects", json={"name": "a", "repo_url": "/x", "colour": "red"}).status_code == 400
    r = dev.post("/api/v1/projects", json={"name": "a", "repo_url": "-x", "branches": []})
    assert r.status_code == 400 and {e["path"] for e in r.get_json()["details"]["errors"]} == {"repo_url",
                                                                                               "branches"}
    assert dev.post("/api/v1/projects", json={"name": "a", "repo_url": "/x"}).status_code == 201
    assert dev.post("/api/v1/projects", json={"name": "a", "repo_url": "/x"}).status_code == 409
    assert dev.get("/api/v1/projects/nope").status_code == 404
    assert dev.patch("/api/v1/projects/a", json={"name": "b"}).status_code == 400


def test_update_and_delete(dev):
    dev.post("/api/v1/projects", json={"name": "app", "repo_url": "/srv/app.git"})
    r = dev.patch("/api/v1/projects/app", json={"branches": ["main"], "pipeline_file": "ci/shipway.yml"})
    assert r.status_code == 200 and r.get_json()["branches"] == ["main"]
    assert r.get_json()["pipeline_file"] == "ci/shipway.yml"
    assert dev.delete("/api/v1/projects/app").status_code == 204
    assert dev.get("/api/v1/projects/app").status_code == 404


def test_deliveries_listed(unit_app, unit_ctx, dev, viewer):
    from unit.webhook.fakes import FakePipelines
    unit_ctx.services["pipelines"] = FakePipelines()
    dev.post("/api/v1/projects", json={"name": "demo", "repo_url": "/srv/app.git",
                                       "webhook_secret": "s3cret-webhook-key-for-tests"})
    Sender(unit_app.test_client())("github", fixture_bytes("github-push.json"), "push", delivery="abc")
    items = viewer.get("/api/v1/projects/demo/deliveries").get_json()["items"]
    assert items[0]["delivery_id"] == "abc" and items[0]["status"] == "queued"
    assert viewer.get("/api/v1/projects/demo/deliveries?limit=x").status_code == 400


def test_console_pages(unit_app, unit_ctx, dev, viewer):
    from unit.webhook.fakes import FakePipelines
    unit_ctx.services["pipelines"] = FakePipelines()
    assert unit_app.test_client().get("/projects", headers={"Accept": "text/html"}).status_code == 302
    assert "No projects yet" in viewer.get("/projects").get_data(as_text=True)
    dev.post("/api/v1/projects", json={"name": "demo", "repo_url": "/srv/app.git",
                                       "webhook_secret": "s3cret-webhook-key-for-tests"})
    Sender(unit_app.test_client())("github", fixture_bytes("github-push.json"), "push", delivery="abc")
    page = viewer.get("/projects").get_data(as_text=True)
    assert "/projects/demo" in page and "Projects" in page
    page = viewer.get("/projects/demo").get_data(as_text=True)
    assert "/webhooks/gitlab/demo" in page and "queued" in page and "run-1" in page
    assert "s3cret-webhook-key-for-tests" not in page
    assert viewer.get("/projects/nope").status_code == 404
