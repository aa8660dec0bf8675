"""``shipway svc``: services and instances of the naming server (through the native REST API)."""

from __future__ import annotations

import json
from urllib.parse import quote

import click

from shipway.cli.common import api_options, reports_errors

BASE = "/api/v1/naming"


def _scope(fn):
    fn = click.option("--group", "-g", default="DEFAULT_GROUP", show_default=True, help="Group.")(fn)
    return click.option("--namespace", "-n", default="public", show_default=True, help="Namespace.")(fn)


def _iid(ip: str, port: int, cluster: str, group: str, service: str) -> str:
    return quote(f"{ip}#{port}#{cluster}#{group}@@{service}", safe="")


def _table(rows: list[list], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    for row in [headers, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


@click.group("svc")
def svc() -> None:
    """Services and instances of the service registry."""


@svc.command("list")
@click.option("--namespace", "-n", default="public", show_default=True)
@click.option("--group", "-g", default=None, help="Only this group.")
@click.option("--page", default=1, show_default=True)
@click.option("--size", default=100, show_default=True)
@api_options
@reports_errors
def list_(namespace, group, page, size, api):
    """List services."""
    params = {"namespace": namespace, "page": page, "size": size, **({"group": group} if group else {})}
    body = api.get(f"{BASE}/services", params=params).json()
    _table([[s["group"], s["name"]] for s in body["items"]], ["GROUP", "SERVICE"])
    click.echo(f"({body['total']} services)", err=True)


@svc.command("get")
@click.argument("service")
@_scope
@api_options
@reports_errors
def get(service, namespace, group, api):
    """Show a service (protect threshold, metadata, clusters, counts) as JSON."""
    body = api.get(f"{BASE}/services/{service}", params={"namespace": namespace, "group": group}).json()
    click.echo(json.dumps(body, indent=2))


@svc.command("instances")
@click.argument("service")
@_scope
@click.option("--healthy-only", is_flag=True, help="Only what clients are handed (healthy and enabled).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@api_options
@reports_errors
def instances(service, namespace, group, healthy_only, as_json, api):
    """List the instances of a service."""
    body = api.get(f"{BASE}/services/{service}/instances",
                   params={"namespace": namespace, "group": group, "healthyOnly": str(healthy_only).lower()}).json()
    if as_json:
        click.echo(json.dumps(body["items"], indent=2))
        return
    _table([[i["ip"], i["port"], i["clusterName"], i["weight"], "yes" if i["healthy"] else "NO",
             "yes" if i["enabled"] else "no", i.get("source", "")] for i in body["items"]],
           ["IP", "PORT", "CLUSTER", "WEIGHT", "HEALTHY", "ENABLED", "KIND"])


@svc.command("register")
@click.argument("service")
@click.argument("ip")
@click.argument("port", type=int)
@_scope
@click.option("--cluster", default="DEFAULT", show_default=True)
@click.option("--weight", default=1.0, show_default=True, type=float)
@click.option("--metadata", "-m", multiple=True, help="key=value (repeatable).")
@click.option("--ephemeral", is_flag=True, help="A heartbeat instance (removed 30 s after the last beat).")
@api_options
@reports_errors
def register(service, ip, port, namespace, group, cluster, weight, metadata, ephemeral, api):
    """Register an instance (persistent unless --ephemeral)."""
    md = {}
    for item in metadata:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--metadata")
        k, v = item.split("=", 1)
        md[k] = v
    body = api.post(f"{BASE}/services/{service}/instances", params={"namespace": namespace, "group": group},
                    json={"ip": ip, "port": port, "cluster": cluster, "weight": weight, "metadata": md,
                          "ephemeral": ephemeral}).json()
    click.echo(body["instanceId"])


def _instance_command(name: str, doc: str):
    def deco(fn):
        fn = api_options(fn)
        fn = reports_errors(fn)
        fn = click.option("--cluster", default="DEFAULT", show_default=True)(fn)
        fn = _scope(fn)
        fn = click.argument("port", type=int)(fn)
        fn = click.argument("ip")(fn)
        fn = click.argument("service")(fn)
        fn.__doc__ = doc
        return svc.command(name)(fn)
    return deco


@_instance_command("deregister", "Deregister an instance.")
def deregister(service, ip, port, namespace, group, cluster, api):
    api.delete(f"{BASE}/instances/{_iid(ip, port, cluster, group, service)}", params={"namespace": namespace})
    click.echo("deregistered")


def _patch(api, service, ip, port, namespace, group, cluster, body) -> dict:
    return api.request("PATCH", f"{BASE}/instances/{_iid(ip, port, cluster, group, service)}",
                       params={"namespace": namespace}, json=body).json()


@svc.command("weight")
@click.argument("service")
@click.argument("ip")
@click.argument("port", type=int)
@click.argument("weight", type=float)
@_scope
@click.option("--cluster", default="DEFAULT", show_default=True)
@api_options
@reports_errors
def weight(service, ip, port, weight, namespace, group, cluster, api):
    """Set an instance's weight (0 takes it out of weighted choice)."""
    inst = _patch(api, service, ip, port, namespace, group, cluster, {"weight": weight})
    click.echo(f"{inst['instanceId']} weight {inst['weight']}")


@_instance_command("enable", "Put an instance back into rotation.")
def enable(service, ip, port, namespace, group, cluster, api):
    inst = _patch(api, service, ip, port, namespace, group, cluster, {"enabled": True})
    click.echo(f"{inst['instanceId']} enabled")


@_instance_command("disable", "Take an instance out of rotation without deregistering it.")
def disable(service, ip, port, namespace, group, cluster, api):
    inst = _patch(api, service, ip, port, namespace, group, cluster, {"enabled": False})
    click.echo(f"{inst['instanceId']} disabled")


#: click commands or groups this module contributes.
commands: list = [svc]
