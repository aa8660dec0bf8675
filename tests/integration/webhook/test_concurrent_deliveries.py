"""Concurrent duplicate deliveries over real HTTP start one run (app on a real ZooKeeper chroot)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from unit.webhook.conftest import SECRET, signed_headers
from unit.webhook.fakes import FakePipelines

pytestmark = [pytest.mark.zookeeper]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"


@pytest.fixture(params=["fake", "real"])
def http_app(request, app, ctx):
    """The app served over HTTP, with the stand-in pipelines service or the real one."""
    if request.param == "fake":
        ctx.services["pipelines"] = FakePipelines()
    else:
        assert type(ctx.services["pipelines"]).__name__ != "FakePipelines"
    ctx.services["projects"].add("demo", "https://x.invalid/team/demo.git", webhook_secret=SECRET)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", ctx
    server.shutdown()


def test_twenty_concurrent_duplicates_one_run(http_app):
    url, ctx = http_app
    body = (FIXTURES / "github-push.json").read_bytes()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "dup-1",
               **signed_headers("github", body)}

    def post(_):
        return requests.post(url + "/webhooks/github/demo", data=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(20)))
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers if a.status_code != 202]
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses.count("queued") == 1 and statuses.count("duplicate") == 19
    assert len({a.json()["run_url"] for a in answers}) == 1
    pipelines = ctx.services["pipelines"]
    if isinstance(pipelines, FakePipelines):
        assert len(pipelines.runs) == 1
    else:
        assert len({a.json()["runs"][0]["id"] for a in answers}) == 1
        assert len(pipelines.list_runs(project="demo")) == 1
    log = ctx.services["webhook_deliveries"].list("demo", 50)
    assert len(log) == 20 and sum(d["status"] == "queued" for d in log) == 1
