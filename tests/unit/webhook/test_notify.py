"""Outgoing notifications: signed, in the background, retried, never raising."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.waiting import wait_for
from unit.webhook.conftest import SECRET


class Hook:
    """A tiny local HTTP receiver; answers the statuses in ``plan`` in turn (then 200)."""

    def __init__(self, plan=()) -> None:
        self.plan = list(plan)
        self.received: list[tuple[dict, bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((dict(self.headers, Path=self.path), body))
                self.send_response(hook.plan.pop(0) if hook.plan else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def svc(unit_app, unit_ctx):
    s = unit_ctx.services["projects"]
    s.notifier.backoff = 0.05
    yield s
    s.notifier.stop()


def test_notify_posts_signed_json(svc, hook):
    svc.add("app", "/srv/app.git", webhook_secret=SECRET, notify_url=hook.url)
    t0 = time.monotonic()
    svc.notify("app", "run.succeeded", {"run": {"id": "r1", "status": "succeeded"}})
    assert time.monotonic() - t0 < 0.5  # returns at once
    wait_for(lambda: hook.received, 10, message="the notification")
    headers, body = hook.received[0]
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Shipway-Signature"] == sig and headers["X-Shipway-Event"] == "run.succeeded"
    doc = json.loads(body)
    assert doc["project"] == "app" and doc["event"] == "run.succeeded" and doc["payload"]["run"]["id"] == "r1"
    assert doc["delivery"] == headers["X-Shipway-Delivery"]


def test_notify_retries_server_errors(svc):
    h = Hook(plan=[500, 503])
    try:
        svc.add("app", "/srv/app.git", notify_url=h.url)
        svc.notify("app", "approval.waiting", {})
        wait_for(lambda: len(h.received) == 3, 10, message="three attempts")
    finally:
        h.close()


def test_notify_never_raises(svc, caplog):
    svc.notify("missing", "run.failed", {})                   # unknown project
    svc.add("quiet", "/srv/app.git")                           # no notify_url: nothing to do
    svc.notify("quiet", "run.failed", {})
    svc.add("dead", "/srv/app.git", notify_url="http://127.0.0.1:9/unreachable?token=abc")
    svc.notify("dead", "run.failed", {})
    wait_for(lambda: "failed after 3 attempts" in caplog.text, 15, message="the failure to be logged")
    assert "token=abc" not in caplog.text


def test_commit_status_reported_github_style(svc):
    h = Hook()
    try:
        api = h.url.rsplit("/", 1)[0] + "/repos/team/app"
        svc.add("app", "/srv/app.git", status_api=api, credentials={"token": "ghp-token-value"})
        sha = "366701fde727cb7a9e7f21eb88264f59f6f9b89c"
        svc.report_status("app", commit=sha, state="succeeded", target_url="http://shipway.invalid/runs/r1",
                          description="shipway: run.succeeded")
        svc.report_status("app", commit=sha, state="running")
        svc.report_status("app", commit="not-a-sha", state="running")      # ignored
        wait_for(lambda: len(h.received) == 2, 10, message="two statuses")
        (h1, b1), (h2, b2) = h.received
        assert h1["Authorization"] == "token ghp-token-value" and h1["Path"] == f"/repos/team/app/statuses/{sha}"
        assert json.loads(b1) == {"state": "success", "target_url": "http://shipway.invalid/runs/r1",
                                  "context": "shipway", "description": "shipway: run.succeeded"}
        assert json.loads(b2)["state"] == "pending"
    finally:
        h.close()

