"""A small Kubernetes REST client and the deploy stage built on it.

The same code talks to shipway's own orchestrator API (base URL + bearer
token) and to a real cluster named by a kubeconfig context. It does what
``kubectl apply --server-side --force-conflicts``, ``kubectl rollout status``
and ``kubectl rollout undo`` do:

* apply: ``PATCH`` with ``application/apply-patch+yaml``, ``fieldManager=shipway``, ``force=true``;
* rollout status (on a watch of the Deployment, polling when the server refuses watches):
  observedGeneration ≥ generation, updatedReplicas == replicas, availableReplicas ==
  replicas, no old replicas (status.replicas == updatedReplicas); ``Progressing=False`` with reason
  ``ProgressDeadlineExceeded`` fails at once;
* undo: the ReplicaSet owned by the Deployment with the highest revision below the current one gives
  its pod template (minus ``pod-template-hash``) back to the Deployment.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import requests
import yaml

from shipway.pipelines import kubeconfig
from shipway.pipelines.kubeconfig import KubeError

REVISION = "deployment.kubernetes.io/revision"
# kind -> (api prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Service": ("/api/v1", "services", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "Pod": ("/api/v1", "pods", True),
    "Namespace": ("/api/v1", "namespaces", False),
}


class KubeClient:
    """Kubernetes REST over ``requests`` (bearer token, optional CA / client certificate)."""

    def __init__(self, server: str, token: str | None = None, *, verify: Any = True, cert: Any = None,
                 timeout: float = 15.0) -> None:
        self.server = server.rstrip("/")
        self.http = requests.Session()
        # Passed with every request, not set on the session: requests lets REQUESTS_CA_BUNDLE /
        # CURL_CA_BUNDLE in the environment override a session's verify, which would drop the
        # kubeconfig's own CA.
        self.verify = verify
        if cert:
            self.http.cert = cert
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self._tmp: list = []

    @classmethod
    def from_kubeconfig(cls, text: str, context: str | None = None, *, origin: str = "kubeconfig") -> "KubeClient":
        """Client for ``context`` (default: current-context) of a kubeconfig document ``text``."""
        target = kubeconfig.resolve(text, context, origin=origin)
        client = cls(target.server, target.token, verify=target.verify, cert=target.cert)
        client._tmp = target.files
        return client

    def close(self) -> None:
        self.http.close()
        for f in self._tmp:
            Path(f).unlink(missing_ok=True)

    @staticmethod
    def path(kind: str, name: str | None, namespace: str | None) -> str:
        if kind not in KINDS:
            raise KubeError(f"kind {kind} is not supported by the deploy stage ({', '.join(KINDS)})")
        prefix, plural, namespaced = KINDS[kind]
        base = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
        return f"{base}/{name}" if name else base

    def _req(self, method: str, path: str, **kw) -> dict:
        try:
            resp = self.http.request(method, self.server + path, timeout=self.timeout, verify=self.verify, **kw)
        except requests.RequestException as e:
            raise KubeError(f"{method} {path}: {e.__class__.__name__}: {e}") from e
        if resp.status_code >= 400:
            try:
                msg = resp.json().get("message") or resp.text
            except ValueError:
                msg = resp.text
            raise KubeError(f"{method} {path}: {resp.status_code} {msg[:300]}")
        return resp.json() if resp.content else {}

    def get(self, path: str, **params) -> dict:
        return self._req("GET", path, params=params or None)

    def apply(self, obj: dict) -> dict:
        meta = obj.get("metadata") or {}
        path = self.path(obj["kind"], meta["name"], meta.get("namespace"))
        return self._req("PATCH", path, params={"fieldManager": "shipway", "force": "true"},
                         data=json.dumps(obj), headers={"Content-Type": "application/apply-patch+yaml"})

    def watch(self, kind: str, namespace: str | None, name: str, resource_version: str,
              timeout: float) -> Iterator[dict]:
        """Watch events (``{"type", "object"}``) of one object after ``resource_version``, for ``timeout`` s."""
        params = {"watch": "1", "fieldSelector": f"metadata.name={name}", "resourceVersion": resource_version,
                  "timeoutSeconds": str(max(1, round(timeout)))}
        url = self.server + self.path(kind, None, namespace)
        try:
            resp = self.http.get(url, params=params, stream=True, timeout=(self.timeout, timeout + self.timeout),
                                 verify=self.verify)
        except requests.RequestException as e:
            raise KubeError(f"watch {kind} {name}: {e.__class__.__name__}: {e}") from e
        with resp:
            if resp.status_code >= 400:
                raise KubeError(f"watch {kind} {name}: {resp.status_code} {resp.text[:300]}")
            try:
                for line in resp.iter_lines():
                    if line:
                        yield json.loads(line)
            except (requests.RequestException, ValueError) as e:
                raise KubeError(f"watch {kind} {name}: {e.__class__.__name__}: {e}") from e

    def patch_merge(self, path: str, body: dict) -> dict:
        return self._req("PATCH", path, data=json.dumps(body),
                         headers={"Content-Type": "application/strategic-merge-patch+json"})


def rollout_state(dep: dict) -> tuple[str, str]:
    """``("done"|"progressing"|"failed", why)`` as ``kubectl rollout status`` decides it."""
    spec, st = dep.get("spec") or {}, dep.get("status") or {}
    meta = dep.get("metadata") or {}
    for c in st.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("status") == "False" and \
                c.get("reason") == "ProgressDeadlineExceeded":
            return "failed", f"progress deadline exceeded: {c.get('message', '')}"
    if (st.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return "progressing", "waiting for the controller to observe the new generation"
    want = spec.get("replicas", 1)
    updated, available, total = (st.get("updatedReplicas") or 0, st.get("availableReplicas") or 0,
                                 st.get("replicas") or 0)
    if updated < want:
        return "progressing", f"{updated} of {want} updated replicas"
    if total > updated:
        return "progressing", f"{total - updated} old replicas pending termination"
    if available < updated:
        return "progressing", f"{available} of {updated} updated replicas available"
    return "done", f"{available} replicas available"


def wait_rollout(client: KubeClient, ns: str, name: str, timeout: float, log: Callable[[str], None],
                 should_stop: Callable[[], bool], interval: float = 0.5) -> None:
    """Wait until the Deployment's rollout is done (``kubectl rollout status``); raise :class:`KubeError`.

    It reacts to a **watch** on the Deployment (as kubectl does), so the stage ends the moment the
    controller reports the rollout complete; the watch is re-opened every :data:`WATCH_WINDOW` s from the
    last resourceVersion seen, which is also how often ``should_stop`` is checked while nothing changes.
    A server that refuses the watch gets polled every ``interval`` s instead.
    """
    deadline = time.monotonic() + timeout
    path = client.path("Deployment", name, ns)
    last = ""
    dep = client.get(path)
    rv = (dep.get("metadata") or {}).get("resourceVersion") or "0"
    watching = True
    while True:
        state, why = rollout_state(dep)
        if why != last:
            log(f"deployment/{name}: {why}")
            last = why
        if state == "done":
            return
        if state == "failed":
            raise KubeError(why)
        if should_stop():
            raise KubeError("cancelled while waiting for the rollout")
        left = deadline - time.monotonic()
        if left <= 0:
            raise KubeError(f"rollout of deployment/{name} not finished after {timeout:.0f}s ({why})")
        if watching:
            try:
                dep, rv = _next_change(client, ns, name, dep, rv, min(WATCH_WINDOW, left))
                continue
            except WatchUnavailable:
                watching = False
        time.sleep(min(interval, max(left, 0.0)))
        dep = client.get(path)


WATCH_WINDOW = 1.0  # seconds per watch request of wait_rollout


class WatchUnavailable(Exception):
    """The server does not serve a watch of the Deployment: poll instead."""


class Deleted(KubeError):
    """The Deployment disappeared while its rollout was awaited."""


def _next_change(client: KubeClient, ns: str, name: str, dep: dict, rv: str, window: float) -> tuple[dict, str]:
    """``(deployment, resourceVersion to resume from)`` after the next change within ``window`` s."""
    try:
        for ev in client.watch("Deployment", ns, name, rv, window):
            etype, obj = ev.get("type"), ev.get("object") or {}
            if etype == "DELETED":
                raise Deleted(f"deployment/{name} was deleted during its rollout")
            if etype == "ERROR":
                # 410 Gone (the resourceVersion left the server's window): list again, resume from the list's
                # resourceVersion (an unchanged object's own one may stay too old).
                found = client.get(client.path("Deployment", None, ns), fieldSelector=f"metadata.name={name}")
                items = found.get("items") or []
                if not items:
                    raise Deleted(f"deployment/{name} was deleted during its rollout")
                return items[0], (found.get("metadata") or {}).get("resourceVersion") or "0"
            if etype in ("ADDED", "MODIFIED"):
                return obj, (obj.get("metadata") or {}).get("resourceVersion") or rv
    except Deleted:
        raise
    except KubeError as e:
        raise WatchUnavailable(str(e)) from e
    return dep, rv


def _template_key(template: dict) -> str:
    """A pod template without the controller's ``pod-template-hash`` label, for comparison."""
    t = json.loads(json.dumps(template or {}))
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return json.dumps(t, sort_keys=True)


def rollback(client: KubeClient, ns: str, name: str, log: Callable[[str], None]) -> bool:
    """Undo to the previous revision; ``False`` when there is none (first deploy).

    The target is the newest ReplicaSet owned by the Deployment whose pod template differs from the
    Deployment's current one (what ``kubectl rollout undo`` restores). Comparing templates, rather than
    trusting the Deployment's revision annotation, stays right while the controller has not yet
    written the annotation for the failed revision.
    """
    dep = client.get(client.path("Deployment", name, ns))
    uid = (dep.get("metadata") or {}).get("uid")
    current = _template_key((dep.get("spec") or {}).get("template") or {})
    rss = client.get(client.path("ReplicaSet", None, ns)).get("items") or []
    owned = []
    for rs in rss:
        meta = rs.get("metadata") or {}
        if any(o.get("kind") == "Deployment" and (o.get("uid") == uid or o.get("name") == name)
               for o in meta.get("ownerReferences") or []):
            rev = int((meta.get("annotations") or {}).get(REVISION, "0") or 0)
            template = (rs.get("spec") or {}).get("template") or {}
            if _template_key(template) != current:
                owned.append((rev, template))
    if not owned:
        log(f"deployment/{name}: no previous revision to roll back to")
        return False
    rev, template = max(owned, key=lambda o: o[0])
    template = json.loads(json.dumps(template))
    ((template.get("metadata") or {}).get("labels") or {}).pop("pod-template-hash", None)
    client._req("PATCH", client.path("Deployment", name, ns), data=json.dumps({"spec": {"template": template}}),
                headers={"Content-Type": "application/merge-patch+json"})
    want = [c.get("image") for c in (template.get("spec") or {}).get("containers") or []]
    after = client.get(client.path("Deployment", name, ns))
    got = [c.get("image") for c in (((after.get("spec") or {}).get("template") or {}).get("spec") or {})
           .get("containers") or []]
    if got != want:
        raise KubeError(f"rollback of deployment/{name} did not take: images {got}, expected {want}")
    log(f"deployment/{name}: rolled back to revision {rev} ({', '.join(want)})")
    return True


def load_manifests(files: list[Path]) -> list[dict]:
    docs: list[dict] = []
    for f in files:
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                if not isinstance(d, dict) or "kind" not in d or "metadata" not in d:
                    raise KubeError(f"{f.name}: every document needs kind and metadata")
                docs.append(d)
    return docs


def set_image(obj: dict, image: str, container: str | None) -> int:
    """Replace the image of ``container`` (or every container) of a Deployment; return how many changed."""
    if obj.get("kind") != "Deployment":
        return 0
    n = 0
    for c in ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []):
        if container is None or c.get("name") == container:
            c["image"] = image
            n += 1
    return n
