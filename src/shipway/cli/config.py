"""``shipway config``: publish, read, delete, list, history, diff, rollback and beta-release configs
(through the native REST API)."""

from __future__ import annotations

import json
import sys
from urllib.parse import quote

import click

from shipway.cli.common import api_options, reports_errors

BASE = "/api/v1/configs"
TYPES = ("text", "properties", "yaml", "json", "xml", "toml", "html")


def _scope(fn):
    fn = click.option("--group", "-g", default="DEFAULT_GROUP", show_default=True, help="Group.")(fn)
    return click.option("--namespace", "-n", default="public", show_default=True, help="Namespace.")(fn)


def _url(namespace: str, group: str, data_id: str, suffix: str = "") -> str:
    return f"{BASE}/{quote(namespace, safe='')}/{quote(group, safe='')}/{quote(data_id, safe='')}{suffix}"


def _table(rows: list[list], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    for row in [headers, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


def _content(file, content: str | None) -> str:
    if (file is None) == (content is None):
        raise click.UsageError("give the content with exactly one of --file/-f (or '-' for stdin) and --content")
    return content if content is not None else file.read()


def _guess_type(data_id: str) -> str:
    ext = data_id.rsplit(".", 1)[-1].lower() if "." in data_id else ""
    return {"yml": "yaml", "yaml": "yaml", "json": "json", "xml": "xml", "toml": "toml", "properties": "properties",
            "html": "html", "htm": "html"}.get(ext, "text")


@click.group("config")
def config() -> None:
    """Configs of the config center (namespace → group → dataId)."""


@config.command("publish")
@click.argument("data_id")
@_scope
@click.option("--file", "-f", type=click.File("r", encoding="utf-8"), help="Read the content from a file ('-' = stdin).")
@click.option("--content", "-c", help="The content itself.")
@click.option("--type", "-t", "type_", type=click.Choice(TYPES), help="Content type [default: from the dataId's extension].")
@click.option("--cas", help="Publish only if the current MD5 is this (compare-and-set; '' = must not exist).")
@click.option("--desc", help="Description.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@api_options
@reports_errors
def publish(data_id, namespace, group, file, content, type_, cas, desc, tags, api):
    """Create or update a config; prints the new version and MD5."""
    body = {"content": _content(file, content), "type": type_ or _guess_type(data_id)}
    if cas is not None:
        body["casMd5"] = cas
    if desc is not None:
        body["desc"] = desc
    if tags:
        body["tags"] = list(tags)
    item = api.put(_url(namespace, group, data_id), json=body).json()
    click.echo(f"{item['op']} {namespace}/{group}/{data_id} version {item['version']} md5 {item['md5']}")


@config.command("get")
@click.argument("data_id")
@_scope
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@api_options
@reports_errors
def get(data_id, namespace, group, as_json, api):
    """Print a config's content (or the record with --json)."""
    item = api.get(_url(namespace, group, data_id)).json()
    if as_json:
        click.echo(json.dumps(item, indent=2))
    else:
        sys.stdout.write(item["content"])
        if item["content"] and not item["content"].endswith("\n"):
            sys.stdout.write("\n")


@config.command("delete")
@click.argument("data_id")
@_scope
@api_options
@reports_errors
def delete(data_id, namespace, group, api):
    """Delete a config (kept in the history)."""
    item = api.delete(_url(namespace, group, data_id)).json()
    click.echo(f"deleted {namespace}/{group}/{data_id} (version {item['version']})")


@config.command("list")
@click.option("--namespace", "-n", default=None, help="Only this namespace.")
@click.option("--group", "-g", default=None, help="Group (glob allowed).")
@click.option("--data-id", "-d", default=None, help="dataId (glob allowed, e.g. '*.yaml').")
@click.option("--tags", default=None, help="Comma-separated tags that must all be present.")
@click.option("--page", default=1, show_default=True)
@click.option("--size", default=100, show_default=True)
@api_options
@reports_errors
def list_(namespace, group, data_id, tags, page, size, api):
    """List and search configs."""
    params = {k: v for k, v in {"namespace": namespace, "group": group, "dataId": data_id, "tags": tags,
                                "page": page, "size": size}.items() if v not in (None, "")}
    body = api.get(BASE, params=params).json()
    _table([[i["namespace"], i["group"], i["dataId"], i["type"], i["version"], i["md5"][:8], ",".join(i["tags"])]
            for i in body["items"]], ["NAMESPACE", "GROUP", "DATA ID", "TYPE", "VERSION", "MD5", "TAGS"])
    click.echo(f"({body['total']} configs)", err=True)


@config.command("history")
@click.argument("data_id")
@_scope
@click.option("--version", "-v", type=int, help="Print the content of this version.")
@click.option("--size", default=50, show_default=True)
@api_options
@reports_errors
def history(data_id, namespace, group, version, size, api):
    """List a config's versions (or print one with --version)."""
    if version is not None:
        sys.stdout.write(api.get(_url(namespace, group, data_id, f"/history/{version}")).json()["content"])
        return
    body = api.get(_url(namespace, group, data_id, "/history"), params={"size": size}).json()
    _table([[h["version"], h["op"], h["md5"][:8], h["author"], h["sourceIp"], h["time"]] for h in body["items"]],
           ["VERSION", "OP", "MD5", "AUTHOR", "FROM", "TIME"])


@config.command("diff")
@click.argument("data_id")
@click.argument("from_version", type=int)
@click.argument("to_version", type=int, required=False)
@_scope
@api_options
@reports_errors
def diff(data_id, from_version, to_version, namespace, group, api):
    """Unified diff between two versions (TO defaults to the latest)."""
    params = {"from": from_version, **({"to": to_version} if to_version is not None else {})}
    sys.stdout.write(api.get(_url(namespace, group, data_id, "/diff"), params=params).json()["diff"])


@config.command("rollback")
@click.argument("data_id")
@click.argument("version", type=int)
@_scope
@api_options
@reports_errors
def rollback(data_id, version, namespace, group, api):
    """Publish an earlier version's content as a new version."""
    item = api.post(_url(namespace, group, data_id, "/rollback"), json={"version": version}).json()
    click.echo(f"rolled back {namespace}/{group}/{data_id} to the content of version {version}: "
               f"now version {item['version']}")


@config.group("beta")
def beta() -> None:
    """Gray (beta) release: content seen only by some client IPs and/or labels."""


@beta.command("publish")
@click.argument("data_id")
@_scope
@click.option("--file", "-f", type=click.File("r", encoding="utf-8"), help="Read the content from a file.")
@click.option("--content", "-c", help="The content itself.")
@click.option("--ip", "ips", multiple=True, help="A client IP that sees the beta (repeatable).")
@click.option("--label", "labels", multiple=True, help="key=value a client must carry (repeatable).")
@api_options
@reports_errors
def beta_publish(data_id, namespace, group, file, content, ips, labels, api):
    """Publish a beta for the given IPs and/or labels."""
    label_map = {}
    for item in labels:
        if "=" not in item:
            raise click.UsageError(f"--label {item!r} must be key=value")
        k, v = item.split("=", 1)
        label_map[k] = v
    api.put(_url(namespace, group, data_id, "/beta"),
            json={"content": _content(file, content), "ips": list(ips), "labels": label_map})
    click.echo(f"beta of {namespace}/{group}/{data_id} published")


@beta.command("get")
@click.argument("data_id")
@_scope
@api_options
@reports_errors
def beta_get(data_id, namespace, group, api):
    """Show the beta as JSON."""
    click.echo(json.dumps(api.get(_url(namespace, group, data_id, "/beta")).json(), indent=2))


@beta.command("promote")
@click.argument("data_id")
@_scope
@api_options
@reports_errors
def beta_promote(data_id, namespace, group, api):
    """Publish the beta to everyone (a new version) and end it."""
    item = api.post(_url(namespace, group, data_id, "/beta/promote")).json()
    click.echo(f"beta promoted: {namespace}/{group}/{data_id} version {item['version']}")


@beta.command("stop")
@click.argument("data_id")
@_scope
@api_options
@reports_errors
def beta_stop(data_id, namespace, group, api):
    """End the beta (everyone sees the current version again)."""
    api.delete(_url(namespace, group, data_id, "/beta"))
    click.echo(f"beta of {namespace}/{group}/{data_id} stopped")


#: click commands or groups this module contributes.
commands: list = [config]
