"""``shipway kubeconfig|apply|get|describe|delete|scale|rollout|logs``: the orchestrator without kubectl.

Every command talks to the Kubernetes API that shipway serves under ``/k8s``.
"""

from __future__ import annotations

import json
import sys
import time

import click
import yaml

from shipway.cli.common import api_options, reports_errors
from shipway.core.errors import ShipwayError

K8S = "/k8s"
ALIASES = {"deploy": "deployments", "deployment": "deployments", "deployments": "deployments",
           "rs": "replicasets", "replicaset": "replicasets", "replicasets": "replicasets",
           "po": "pods", "pod": "pods", "pods": "pods", "svc": "services", "service": "services",
           "services": "services", "cm": "configmaps", "configmap": "configmaps", "configmaps": "configmaps",
           "secret": "secrets", "secrets": "secrets", "ns": "namespaces", "namespace": "namespaces",
           "namespaces": "namespaces", "ep": "endpoints", "endpoints": "endpoints"}
GROUPS = {"deployments": "/apis/apps/v1", "replicasets": "/apis/apps/v1"}
KIND_PLURAL = {"Deployment": "deployments", "ReplicaSet": "replicasets", "Pod": "pods", "Service": "services",
               "ConfigMap": "configmaps", "Secret": "secrets", "Namespace": "namespaces"}


def _path(plural: str, ns: str | None, name: str | None = None, sub: str | None = None) -> str:
    base = K8S + GROUPS.get(plural, "/api/v1")
    p = f"{base}/{plural}" if plural == "namespaces" or ns is None else f"{base}/namespaces/{ns}/{plural}"
    return p + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def _resource(word: str) -> str:
    r = ALIASES.get(word.lower())
    if r is None:
        raise ShipwayError(f"unknown resource type {word!r}; use one of {sorted(set(ALIASES.values()))}")
    return r


def _ns_opt(fn):
    return click.option("--namespace", "-n", default="default", show_default=True, help="Namespace.")(fn)


@click.command("kubeconfig")
@click.option("--url", envvar="SHIPWAY_URL", default="http://127.0.0.1:8470", show_default=True,
              help="shipway server URL [env SHIPWAY_URL].")
@click.option("--token", envvar="SHIPWAY_TOKEN", required=True, help="API token [env SHIPWAY_TOKEN].")
@click.option("--namespace", "-n", default="default", show_default=True)
def kubeconfig(url: str, token: str, namespace: str) -> None:
    """Print a kubeconfig that points kubectl at shipway's Kubernetes API (token embedded).

    kubectl sends credentials only over TLS, so the kubeconfig names the orchestrator's HTTPS
    front (asked from the server) with its self-signed certificate as the CA.
    """
    import requests
    try:
        info = requests.get(url.rstrip("/") + K8S + "/kubeconfig-info", timeout=10)
    except requests.ConnectionError:
        raise click.ClickException(f"cannot reach shipway at {url}; is `shipway serve` running?") from None
    if info.status_code != 200:
        raise click.ClickException(f"shipway at {url} answered {info.status_code}: {info.text[:200]}")
    cluster = {"server": info.json()["server"], "certificate-authority-data": info.json()["certificateAuthorityData"]}
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "shipway", "preferences": {},
           "clusters": [{"name": "shipway", "cluster": cluster}],
           "users": [{"name": "shipway", "user": {"token": token}}],
           "contexts": [{"name": "shipway", "context": {"cluster": "shipway", "user": "shipway",
                                                        "namespace": namespace}}]}
    click.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@click.command("apply")
@click.option("--filename", "-f", required=True, type=click.File("r"), help="Manifest file (multi-document YAML, - for stdin).")
@_ns_opt
@api_options
@reports_errors
def apply(filename, namespace: str, api) -> None:
    """Create or update the objects of a manifest (server-side apply)."""
    for doc in yaml.safe_load_all(filename):
        if not doc:
            continue
        plural = KIND_PLURAL.get(doc.get("kind"))
        if plural is None:
            raise ShipwayError(f"unsupported kind {doc.get('kind')!r}")
        ns = None if plural == "namespaces" else (doc.get("metadata") or {}).get("namespace") or namespace
        name = doc["metadata"]["name"]
        resp = api.request("PATCH", _path(plural, ns, name) + "?fieldManager=shipway&force=true",
                           data=json.dumps(doc), headers={"Content-Type": "application/apply-patch+yaml"})
        click.echo(f"{plural.rstrip('s')}/{name} {'created' if resp.status_code == 201 else 'configured'}")


@click.command("get")
@click.argument("resource")
@click.argument("name", required=False)
@_ns_opt
@click.option("--output", "-o", type=click.Choice(["table", "json", "yaml"]), default="table")
@api_options
@reports_errors
def get(resource: str, name: str | None, namespace: str, output: str, api) -> None:
    """List objects (or show one) as a table, JSON or YAML."""
    plural = _resource(resource)
    ns = None if plural == "namespaces" else namespace
    if output != "table":
        body = api.get(_path(plural, ns, name)).json()
        click.echo(json.dumps(body, indent=2) if output == "json" else yaml.safe_dump(body, sort_keys=False))
        return
    table = api.get(_path(plural, ns, name), headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json()
    cols = [i for i, c in enumerate(table["columnDefinitions"]) if not c.get("priority")]
    rows = [[table["columnDefinitions"][i]["name"].upper() for i in cols]]
    rows += [[str(r["cells"][i]) for i in cols] for r in table["rows"]]
    if len(rows) == 1:
        click.echo(f"No resources found in {namespace} namespace.")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for r in rows:
        click.echo("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@click.command("describe")
@click.argument("resource")
@click.argument("name")
@_ns_opt
@api_options
@reports_errors
def describe(resource: str, name: str, namespace: str, api) -> None:
    """Show one object with its status in YAML."""
    plural = _resource(resource)
    obj = api.get(_path(plural, None if plural == "namespaces" else namespace, name)).json()
    obj["metadata"].pop("managedFields", None)
    click.echo(yaml.safe_dump(obj, sort_keys=False))


@click.command("delete")
@click.argument("resource")
@click.argument("name")
@_ns_opt
@api_options
@reports_errors
def delete(resource: str, name: str, namespace: str, api) -> None:
    """Delete an object (pods end gracefully; owned objects are garbage-collected)."""
    plural = _resource(resource)
    api.delete(_path(plural, None if plural == "namespaces" else namespace, name))
    click.echo(f'{plural.rstrip("s")} "{name}" deleted')


@click.command("scale")
@click.argument("target")
@click.option("--replicas", type=int, required=True)
@_ns_opt
@api_options
@reports_errors
def scale(target: str, replicas: int, namespace: str, api) -> None:
    """Scale a deployment: ``shipway scale deployment/web --replicas 3``."""
    kind, _, name = target.partition("/")
    plural = _resource(kind)
    api.request("PATCH", _path(plural, namespace, name, "scale"), data=json.dumps({"spec": {"replicas": replicas}}),
                headers={"Content-Type": "application/merge-patch+json"})
    click.echo(f"{plural.rstrip('s')}/{name} scaled")


@click.group("rollout")
def rollout() -> None:
    """Watch, inspect, undo, pause and resume deployment rollouts."""


def _deploy_name(target: str) -> str:
    kind, _, name = target.partition("/")
    if not name or _resource(kind) != "deployments":
        raise ShipwayError("give the target as deployment/<name>")
    return name


@rollout.command("status")
@click.argument("target")
@_ns_opt
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait.")
@api_options
@reports_errors
def rollout_status(target: str, namespace: str, timeout: float, api) -> None:
    """Wait until the rollout completes (exit 1 if it fails or times out)."""
    name = _deploy_name(target)
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        d = api.get(_path("deployments", namespace, name)).json()
        msg, done = rollout_message(d)
        if msg != last:
            click.echo(msg)
            last = msg
        if done:
            return
        if time.monotonic() > deadline:
            raise ShipwayError(f"timed out waiting for the rollout of {name}")
        time.sleep(1)


def rollout_message(d: dict) -> tuple[str, bool]:
    """kubectl's rollout status wording; raises on a progress deadline."""
    spec, st, name = d["spec"], d.get("status") or {}, d["metadata"]["name"]
    if d["metadata"].get("generation", 0) > st.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    for c in st.get("conditions") or []:
        if c["type"] == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            raise ShipwayError(f'deployment "{name}" exceeded its progress deadline')
    want, upd = spec.get("replicas", 1), st.get("updatedReplicas", 0)
    if upd < want:
        return f'Waiting for deployment "{name}" rollout to finish: {upd} out of {want} new replicas have been updated...', False
    if st.get("replicas", 0) > upd:
        return f'Waiting for deployment "{name}" rollout to finish: {st["replicas"] - upd} old replicas are pending termination...', False
    if st.get("availableReplicas", 0) < upd:
        return f'Waiting for deployment "{name}" rollout to finish: {st.get("availableReplicas", 0)} of {upd} updated replicas are available...', False
    return f'deployment "{name}" successfully rolled out', True


@rollout.command("undo")
@click.argument("target")
@_ns_opt
@click.option("--to-revision", default=0, show_default=True)
@api_options
@reports_errors
def rollout_undo(target: str, namespace: str, to_revision: int, api) -> None:
    """Roll back to the previous (or a given) revision."""
    name = _deploy_name(target)
    d = api.get(_path("deployments", namespace, name)).json()
    rss = api.get(_path("replicasets", namespace)).json()["items"]
    mine = [r for r in rss if any(o.get("uid") == d["metadata"]["uid"] for o in r["metadata"].get("ownerReferences") or [])]
    rev = lambda r: int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))  # noqa: E731
    mine.sort(key=rev)
    target_rs = next((r for r in mine if rev(r) == to_revision), None) if to_revision else (mine[-2] if len(mine) > 1 else None)
    if target_rs is None:
        raise ShipwayError("no rollout history to go back to" if not to_revision else f"revision {to_revision} not found")
    tpl = target_rs["spec"]["template"]
    tpl["metadata"].get("labels", {}).pop("pod-template-hash", None)
    api.request("PATCH", _path("deployments", namespace, name), data=json.dumps(
        [{"op": "replace", "path": "/spec/template", "value": tpl}]),
        headers={"Content-Type": "application/json-patch+json"})
    click.echo(f"deployment.apps/{name} rolled back")


def _pause(paused: bool):
    @click.argument("target")
    @_ns_opt
    @api_options
    @reports_errors
    def cmd(target: str, namespace: str, api) -> None:
        name = _deploy_name(target)
        api.request("PATCH", _path("deployments", namespace, name), data=json.dumps({"spec": {"paused": paused}}),
                    headers={"Content-Type": "application/merge-patch+json"})
        click.echo(f"deployment.apps/{name} {'paused' if paused else 'resumed'}")
    cmd.__doc__ = "Pause the rollout of a deployment." if paused else "Resume a paused deployment."
    return cmd


rollout.command("pause")(_pause(True))
rollout.command("resume")(_pause(False))


@rollout.command("history")
@click.argument("target")
@_ns_opt
@api_options
@reports_errors
def rollout_history(target: str, namespace: str, api) -> None:
    """List the revisions of a deployment."""
    name = _deploy_name(target)
    d = api.get(_path("deployments", namespace, name)).json()
    rss = api.get(_path("replicasets", namespace)).json()["items"]
    click.echo("REVISION  CHANGE-CAUSE")
    rows = []
    for r in rss:
        if any(o.get("uid") == d["metadata"]["uid"] for o in r["metadata"].get("ownerReferences") or []):
            ann = r["metadata"].get("annotations") or {}
            rows.append((int(ann.get("deployment.kubernetes.io/revision", 0)), ann.get("kubernetes.io/change-cause", "<none>")))
    for rev, cause in sorted(rows):
        click.echo(f"{rev:<9} {cause}")


@click.command("logs")
@click.argument("pod")
@click.option("--container", "-c")
@click.option("--follow", "-f", is_flag=True)
@click.option("--tail", type=int)
@_ns_opt
@api_options
@reports_errors
def logs(pod: str, container: str | None, follow: bool, tail: int | None, namespace: str, api) -> None:
    """Print a pod container's output."""
    params = {"follow": "true" if follow else "false"}
    if container:
        params["container"] = container
    if tail is not None:
        params["tailLines"] = str(tail)
    resp = api.get(_path("pods", namespace, pod, "log"), params=params, stream=follow)
    for chunk in resp.iter_content(chunk_size=None):
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()


#: click commands or groups this module contributes.
commands: list = [kubeconfig, apply, get, describe, delete, scale, rollout, logs]
