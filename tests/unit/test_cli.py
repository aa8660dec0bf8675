"""The CLI's usage errors and local user/token management."""

from click.testing import CliRunner

from shipway.cli.commands import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_unknown_flag_names_it():
    r = run("serve", "--prot", "1")
    assert r.exit_code == 2 and "--prot" in r.output


def test_bad_port_value_names_flag():
    r = run("serve", "--port", "x")
    assert r.exit_code == 2 and "'--port'" in r.output


def test_bad_env_is_usage_error(tmp_path):
    r = run("settings", "--data-dir", str(tmp_path), env={"SHIPWAY_LOG_LEVEL": "loud"})
    assert r.exit_code == 2 and "SHIPWAY_LOG_LEVEL" in r.output


def test_settings_redacts(tmp_path):
    r = run("settings", "--data-dir", str(tmp_path), "--json", env={"SHIPWAY_SECRET_KEY": "s3cret"})
    assert r.exit_code == 0 and "s3cret" not in r.output and '"***"' in r.output


def test_user_and_token_commands(tmp_path):
    d = str(tmp_path)
    assert run("user", "add", "--data-dir", d, "dora", "--role", "developer", "--password", "password1").exit_code == 0
    r = run("user", "add", "--data-dir", d, "dora", "--password", "password1")
    assert r.exit_code == 1 and "already exists" in r.output
    assert "dora" in run("user", "list", "--data-dir", d).output
    r = run("token", "create", "--data-dir", d, "dora", "--name", "ci")
    assert r.exit_code == 0 and r.output.startswith("swt_")
    assert "ci" in run("token", "list", "--data-dir", d).output
    assert run("token", "revoke", "--data-dir", d, "1").exit_code == 0
    assert "revoked" in run("token", "list", "--data-dir", d).output
    assert run("user", "passwd", "--data-dir", d, "dora", "--password", "password2").exit_code == 0
