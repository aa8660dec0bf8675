"""``shipway config …`` against a real server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from shipway.cli.commands import cli

pytestmark = pytest.mark.zookeeper


def test_config_commands(live_server, tmp_path):
    env = {"SHIPWAY_URL": live_server.url, "SHIPWAY_TOKEN": live_server.admin_token()}
    runner = CliRunner(env=env)

    def run(*args, ok=True, input=None):
        r = runner.invoke(cli, ["config", *args], input=input, catch_exceptions=False)
        assert (r.exit_code == 0) == ok, r.output
        return r.output

    f = tmp_path / "app.yaml"
    f.write_text("port: 1\n")
    assert "created public/DEFAULT_GROUP/app.yaml version 1" in run("publish", "app.yaml", "-f", str(f),
                                                                    "--tag", "web")
    run("publish", "app.yaml", "-c", "port: 2\n")
    assert run("get", "app.yaml") == "port: 2\n"
    out = run("publish", "app.yaml", "-c", "port: [\n", ok=False)
    assert "line 2:1" in out or "line" in out
    assert "app.yaml" in run("list", "-d", "*.yaml")
    assert "updated" in run("history", "app.yaml")
    assert "+port: 2" in run("diff", "app.yaml", "1", "2")
    assert "now version 3" in run("rollback", "app.yaml", "1")
    assert run("history", "app.yaml", "-v", "3") == "port: 1\n"
    run("beta", "publish", "app.yaml", "-c", "port: 9\n", "--ip", "10.0.0.7", "--label", "ring=0")
    assert '"10.0.0.7"' in run("beta", "get", "app.yaml")
    assert "version 4" in run("beta", "promote", "app.yaml")
    run("beta", "publish", "app.yaml", "-c", "port: 10\n", "--ip", "10.0.0.7")
    run("beta", "stop", "app.yaml")
    assert "deleted" in run("delete", "app.yaml")
    assert "does not exist" in run("get", "app.yaml", ok=False)
