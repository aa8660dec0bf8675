"""Fixtures of the webhook tests: an app with a project, a fake pipelines service, signed senders."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest

from unit.webhook.fakes import FakePipelines

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"
SECRET = "s3cret-webhook-key-for-tests"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hexmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


EVENT_HEADER = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event", "gitea": "X-Gitea-Event",
                "gogs": "X-Gogs-Event", "bitbucket": "X-Event-Key", "generic": "X-Shipway-Event"}
DELIVERY_HEADER = {"github": "X-GitHub-Delivery", "gitlab": "X-Gitlab-Event-UUID", "gitea": "X-Gitea-Delivery",
                   "gogs": "X-Gogs-Delivery", "bitbucket": "X-Request-UUID", "generic": "X-Shipway-Delivery"}


def signed_headers(forge: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    if forge == "github":
        return {"X-Hub-Signature-256": "sha256=" + hexmac(body, secret)}
    if forge == "gitlab":
        return {"X-Gitlab-Token": secret}
    if forge == "gitea":
        return {"X-Gitea-Signature": hexmac(body, secret)}
    if forge == "gogs":
        return {"X-Gogs-Signature": hexmac(body, secret)}
    if forge == "bitbucket":
        return {"X-Hub-Signature": "sha256=" + hexmac(body, secret)}
    return {"X-Shipway-Signature": "sha256=" + hexmac(body, secret)}


class Sender:
    """Posts deliveries to ``/webhooks/<forge>/<project>`` the way each forge does."""

    def __init__(self, client, project: str = "demo") -> None:
        self.client = client
        self.project = project

    def __call__(self, forge: str, body, event: str | None = None, *, delivery: str | None = "new",
                 sign: bool = True, secret: str = SECRET, headers: dict | None = None,
                 project: str | None = None, content_type: str = "application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        h = {"Content-Type": content_type}
        if event is not None:
            h[EVENT_HEADER[forge]] = event
        if delivery == "new":
            delivery = str(uuid.uuid4())
        if delivery:
            h[DELIVERY_HEADER[forge]] = delivery
        if sign:
            h.update(signed_headers(forge, body, secret))
        h.update(headers or {})
        return self.client.post(f"/webhooks/{forge}/{project or self.project}", data=body, headers=h)


@pytest.fixture
def pipelines(unit_app, unit_ctx) -> FakePipelines:
    fake = FakePipelines()
    unit_ctx.services["pipelines"] = fake
    return fake


@pytest.fixture
def projects(unit_app, unit_ctx):
    svc = unit_ctx.services["projects"]
    svc.add("demo", "https://example.invalid/team/demo.git", webhook_secret=SECRET)
    return svc


@pytest.fixture
def send(unit_app, pipelines, projects) -> Sender:
    return Sender(unit_app.test_client())


@pytest.fixture
def deliveries(unit_ctx):
    return unit_ctx.services["webhook_deliveries"]
