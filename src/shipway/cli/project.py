"""``shipway project add|list|show|remove|rotate-secret|deliveries`` — projects through the REST API."""

from __future__ import annotations

import json
import os

import click

from shipway.cli.common import api_options, reports_errors
from shipway.core.errors import BadRequest

#: How each forge sends the secret (printed after `project add` so the user knows where to paste it).
SECRET_WHERE = {
    "github": "Secret field (X-Hub-Signature-256)",
    "gitlab": "Secret token field (X-Gitlab-Token)",
    "gitea": "Secret field (X-Gitea-Signature)",
    "gogs": "Secret field (X-Gogs-Signature)",
    "bitbucket": "Secret field (X-Hub-Signature)",
    "generic": "HMAC key of X-Shipway-Signature",
}


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    """``NAME=VALUE`` items; a bare ``NAME`` takes its value from the environment (keeps it out of history)."""
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            if name not in os.environ:
                raise BadRequest(f"{what} '{name}' has no '=VALUE' and no environment variable {name} is set")
            value = os.environ[name]
        out[name] = value
    return out


@click.group()
def project() -> None:
    """Projects: repositories whose pushes start pipeline runs."""


@project.command("add")
@click.argument("name")
@click.argument("repo_url")
@click.option("--branch", "branches", multiple=True, help="Branch glob allowed to start runs (repeat; default *).")
@click.option("--pipeline-file", default=".shipway.yml", show_default=True, help="Pipeline file in the repo.")
@click.option("--default-pipeline", type=click.File("r"), help="YAML file used when the repo has none.")
@click.option("--notify-url", help="URL receiving run results and waiting approvals (signed JSON POSTs).")
@click.option("--secret", "secrets", multiple=True, metavar="NAME[=VALUE]",
              help="A from_secret value (repeat); without =VALUE it is read from the environment.")
@click.option("--credential", "credentials", multiple=True, metavar="KEY[=VALUE]",
              help="Git credential: username, password, token or ssh_key (repeat; env as for --secret).")
@click.option("--status-api", help="Forge repo API URL for commit statuses, e.g. "
              "https://api.github.com/repos/OWNER/REPO (uses --credential token).")
@click.option("--webhook-secret", envvar="SHIPWAY_WEBHOOK_SECRET", help="Use this secret instead of a new one.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@api_options
@reports_errors
def add(api, name, repo_url, branches, pipeline_file, default_pipeline, notify_url, secrets, credentials,
        status_api, webhook_secret, as_json) -> None:
    """Register project NAME for REPO_URL and print the webhook URLs and the secret to give the forge."""
    body = {"name": name, "repo_url": repo_url, "pipeline_file": pipeline_file}
    if branches:
        body["branches"] = list(branches)
    if default_pipeline:
        body["default_pipeline"] = default_pipeline.read()
    if notify_url:
        body["notify_url"] = notify_url
    if secrets:
        body["secrets"] = _pairs(secrets, "secret")
    if credentials:
        body["credentials"] = _pairs(credentials, "credential")
    if webhook_secret:
        body["webhook_secret"] = webhook_secret
    if status_api:
        body["status_api"] = status_api
    p = api.post("/api/v1/projects", json=body).json()
    if as_json:
        click.echo(json.dumps(p, indent=2))
        return
    click.echo(f"project {p['name']} added ({p['repo_url']}, branches {', '.join(p['branches'])})")
    click.echo("")
    click.echo(f"webhook secret (shown only now): {p['webhook_secret']}")
    click.echo("")
    click.echo("webhook URLs (content type application/json, send push events):")
    for forge, url in p["webhooks"].items():
        click.echo(f"  {forge:<10} {url}   secret → {SECRET_WHERE.get(forge, '')}")


@project.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@api_options
@reports_errors
def list_cmd(api, as_json) -> None:
    """List projects."""
    items = api.get("/api/v1/projects").json()["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("no projects; add one with `shipway project add NAME REPO_URL`")
    for p in items:
        click.echo(f"{p['name']:<24} {p['repo_url']:<50} {','.join(p['branches'])}")


@project.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@api_options
@reports_errors
def show(api, name, as_json) -> None:
    """Show project NAME (secrets masked) and its webhook URLs."""
    p = api.get(f"/api/v1/projects/{name}").json()
    if as_json:
        click.echo(json.dumps(p, indent=2))
        return
    for key in ("name", "repo_url", "pipeline_file", "notify_url", "status_api", "created_at"):
        click.echo(f"{key + ':':<16} {p.get(key) or '-'}")
    click.echo(f"{'branches:':<16} {', '.join(p['branches'])}")
    click.echo(f"{'secrets:':<16} {', '.join(p['secret_names']) or '-'}")
    click.echo(f"{'credentials:':<16} {'set' if p.get('has_credentials') else '-'}")
    click.echo(f"{'default pipeline:':<16} {'yes' if p.get('default_pipeline') else 'no'}")
    click.echo("webhooks:")
    for forge, url in p["webhooks"].items():
        click.echo(f"  {forge:<10} {url}")


@project.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@api_options
@reports_errors
def remove(api, name, yes) -> None:
    """Remove project NAME (its runs' history is kept)."""
    if not yes:
        click.confirm(f"remove project {name}?", abort=True)
    api.delete(f"/api/v1/projects/{name}")
    click.echo(f"project {name} removed")


@project.command("rotate-secret")
@click.argument("name")
@api_options
@reports_errors
def rotate_secret(api, name) -> None:
    """Replace NAME's webhook secret and print the new one (update it on the forge)."""
    p = api.post(f"/api/v1/projects/{name}/webhook-secret").json()
    click.echo(f"new webhook secret of {name} (shown only now): {p['webhook_secret']}")


@project.command("deliveries")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
@api_options
@reports_errors
def deliveries(api, name, limit) -> None:
    """Recent webhook deliveries of NAME: forge, event, status, run."""
    for d in api.get(f"/api/v1/projects/{name}/deliveries", params={"limit": limit}).json()["items"]:
        click.echo(f"{d['received_at'][:19]}  {d['forge']:<9} {d['event'][:18]:<18} {d['status']:<9} "
                   f"{d['http_status']}  {','.join(d['run_ids']) or '-':<12} {d['reason'][:60]}")


commands = [project]
