"""`shipway project ...` against the real app (the CLI's HTTP session is routed to Flask's test client)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
from click.testing import CliRunner

from shipway.cli.commands import cli


class _Resp:
    def __init__(self, r):
        self.status_code = r.status_code
        self.text = r.get_data(as_text=True)

    def json(self):
        return json.loads(self.text)


class _Session:
    """Just enough of requests.Session for ApiClient, backed by a Flask test client."""

    def __init__(self, client):
        self.client = client
        self.headers: dict = {}

    def request(self, method, url, json=None, params=None, timeout=None, **kw):
        parts = urlsplit(url)
        return _Resp(self.client.open(parts.path, method=method, json=json, query_string=params,
                                      headers=self.headers))


@pytest.fixture
def run(unit_app, unit_ctx, monkeypatch):
    unit_ctx.users.add("dora", "password-dora", "developer")
    token = unit_ctx.users.create_token("dora", "cli")["token"]
    monkeypatch.setattr(requests, "Session", lambda: _Session(unit_app.test_client()))

    def invoke(*args, env=None):
        return CliRunner().invoke(cli, ["project", *args], env={"SHIPWAY_TOKEN": token, **(env or {})},
                                  catch_exceptions=False)
    return invoke


def test_add_prints_urls_and_secret_once(run, unit_ctx):
    r = run("add", "app", "https://x.invalid/team/app.git", "--branch", "main", "--secret", "TOKEN=t0p",
            "--secret", "FROM_ENV", "--credential", "username=bot", env={"FROM_ENV": "env-value"})
    assert r.exit_code == 0, r.output
    secret = unit_ctx.services["projects"].webhook_secret_of("app")
    assert f"webhook secret (shown only now): {secret}" in r.output
    for forge in ("github", "gitlab", "gitea", "gogs", "bitbucket", "generic"):
        assert f"/webhooks/{forge}/app" in r.output
    assert unit_ctx.services["projects"].secrets_of("app") == {"TOKEN": "t0p", "FROM_ENV": "env-value"}
    shown = run("show", "app").output
    assert secret not in shown and "TOKEN" in shown and "t0p" not in shown and "main" in shown
    assert "app" in run("list").output
    assert json.loads(run("list", "--json").output)[0]["name"] == "app"


def test_errors_are_one_red_line(run):
    r = run("add", "Bad Name", "ftp://x")
    assert r.exit_code == 1 and r.output.startswith("error: invalid project")
    assert run("show", "nope").exit_code == 1
    r = run("add", "app", "/srv/a.git", "--secret", "MISSING_VAR")
    assert r.exit_code == 1 and "MISSING_VAR" in r.output


def test_remove_rotate_deliveries(run, unit_ctx):
    run("add", "app", "/srv/app.git")
    old = unit_ctx.services["projects"].webhook_secret_of("app")
    r = run("rotate-secret", "app")
    assert r.exit_code == 0 and unit_ctx.services["projects"].webhook_secret_of("app") in r.output
    assert old not in r.output
    assert run("deliveries", "app").exit_code == 0
    assert run("remove", "app", "--yes").exit_code == 0
    assert "no projects" in run("list").output
