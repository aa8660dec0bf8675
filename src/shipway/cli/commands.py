"""The ``shipway`` command group: serve, settings, user, token, and each part's commands.

Each part adds its commands through a module in :data:`PART_COMMANDS` that
exposes ``commands`` (a list of click commands or groups).
"""

from __future__ import annotations

import importlib
import json

import click

from shipway import __version__
from shipway.cli.common import load, reports_errors, settings_options

#: Modules contributing ``commands`` to the group.
PART_COMMANDS: list[str] = [
    "shipway.cli.config",     # shipway config ...
    "shipway.cli.svc",        # shipway svc ...
    "shipway.cli.kube",       # shipway apply|get|describe|delete|scale|rollout|logs|kubeconfig
    "shipway.cli.pipeline",   # shipway project|run|pipeline|approve|reject ...
    "shipway.cli.demo",       # shipway demo
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="shipway")
def cli() -> None:
    """shipway: from git push to a running, discoverable, hot-configurable service."""


@cli.command()
@settings_options
@click.option("--host", help="Listen address [env SHIPWAY_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Listen port [env SHIPWAY_PORT; default 8470].")
@click.option("--zk", help="External ZooKeeper connect string [env SHIPWAY_ZK]; default: run a local one.")
@click.option("--registry", help="External registry host:port [env SHIPWAY_REGISTRY]; default: run a local one.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format [env SHIPWAY_LOG_FORMAT].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log level.")
def serve(config_file, **flags) -> None:
    """Run shipway: API, console, pipelines, orchestrator, registry and config center."""
    from shipway.server.runner import run

    run(load(flags, config_file))


@cli.command("settings")
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def settings_cmd(config_file, as_json, **flags) -> None:
    """Print the effective settings (secrets redacted) and where each came from."""
    s = load(flags, config_file)
    values = s.redacted()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        click.echo(f"{key:<{width}}  {value!s:<40}  ({s.sources.get(key, 'default')})")


def _users(flags, config_file):
    from shipway.core.context import Context

    ctx = Context.from_settings(load(flags, config_file))
    ctx.store.create_all()
    return ctx.users


@cli.group()
def user() -> None:
    """Manage users (acts on the local store, like `shipway serve` would)."""


@user.command("add")
@settings_options
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "developer", "approver", "viewer"]), default="viewer",
              show_default=True)
@click.password_option(help="Password (prompted when omitted).")
@reports_errors
def user_add(config_file, username, role, password, **flags) -> None:
    """Add a user."""
    _users(flags, config_file).add(username, password, role)
    click.echo(f"added {username} ({role})")


@user.command("list")
@settings_options
@reports_errors
def user_list(config_file, **flags) -> None:
    """List users."""
    for u in _users(flags, config_file).list():
        click.echo(f"{u['username']:<24} {u['role']:<10} {'disabled' if u['disabled'] else ''}")


@user.command("passwd")
@settings_options
@click.argument("username")
@click.password_option(help="New password (prompted when omitted).")
@reports_errors
def user_passwd(config_file, username, password, **flags) -> None:
    """Set a user's password."""
    _users(flags, config_file).set_password(username, password)
    click.echo(f"password of {username} changed")


@cli.group()
def token() -> None:
    """Manage API tokens (sent as `Authorization: Bearer <token>`)."""


@token.command("create")
@settings_options
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@reports_errors
def token_create(config_file, username, name, **flags) -> None:
    """Create a token for USERNAME and print it (shown once)."""
    t = _users(flags, config_file).create_token(username, name)
    click.echo(t["token"])
    click.echo(f"token {t['id']} ({t['prefix']}…) for {username}; it is shown only now", err=True)


@token.command("list")
@settings_options
@click.option("--user", "username", help="Only this user's tokens.")
@reports_errors
def token_list(config_file, username, **flags) -> None:
    """List tokens (never their secrets)."""
    for t in _users(flags, config_file).list_tokens(username):
        state = "revoked" if t["revoked"] else "active"
        click.echo(f"{t['id']:<5} {t['prefix']}…  {t['username']:<16} {t['name']:<20} {state:<8} "
                   f"last used {t['last_used_at'] or 'never'}")


@token.command("revoke")
@settings_options
@click.argument("token_id", type=int)
@reports_errors
def token_revoke(config_file, token_id, **flags) -> None:
    """Revoke token TOKEN_ID."""
    _users(flags, config_file).revoke_token(token_id)
    click.echo(f"token {token_id} revoked")


for _name in PART_COMMANDS:
    for _cmd in importlib.import_module(_name).commands:
        cli.add_command(_cmd)
