"""``ctx.services["orchestrator"]``: the orchestrator's Python face for other parts and the console.

Also owns the lazily built store/resources and the registration of ready
Service endpoints in the naming service (``ctx.services["naming"]``).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator

from shipway.core.errors import BadRequest, NotFound
from shipway.orchestrator.objects import BY_KIND, REVISION, controller_uid, deep
from shipway.orchestrator.replicaset import service_targets
from shipway.orchestrator.resources import Resources
from shipway.orchestrator.store import ObjectStore

log = logging.getLogger(__name__)
DEPLOY, RS, POD = BY_KIND["Deployment"], BY_KIND["ReplicaSet"], BY_KIND["Pod"]
MANAGED = "shipway-orchestrator"


class OrchestratorService:
    """Public API (see docs/orchestrator.md § Python API)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.store = ObjectStore(lambda: ctx.kazoo)
        self.resources = Resources(self.store)
        self.agent = None  # set by register() when the agent component exists
        self._registered: dict[tuple[str, str], set[tuple[str, int]]] = {}

    @property
    def zk(self):
        return self.ctx.kazoo

    # -- console / other parts ------------------------------------------------------------
    def list_deployments(self, namespace: str | None = None) -> list[dict]:
        """Deployments (all namespaces when None) as Kubernetes dicts."""
        return self.resources.list(DEPLOY, namespace)

    def list_pods(self, namespace: str | None = None, selector: dict[str, str] | None = None) -> list[dict]:
        pods = self.resources.list(POD, namespace)
        if selector:
            pods = [p for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v
                                           for k, v in selector.items())]
        return pods

    def get_deployment(self, namespace: str, name: str) -> dict:
        return self.resources.get(DEPLOY, namespace, name)

    def scale(self, namespace: str, name: str, replicas: int) -> dict:
        """Set ``spec.replicas`` of a Deployment (no new revision)."""
        if replicas < 0:
            raise BadRequest("replicas must be ≥ 0", field="replicas")
        return self.resources.patch(DEPLOY, namespace, name, "application/merge-patch+json",
                                    {"spec": {"replicas": replicas}})

    def history(self, namespace: str, name: str) -> list[dict]:
        """``[{revision, replicaset, image(s), change_cause}]`` oldest first (like ``rollout history``)."""
        d = self.get_deployment(namespace, name)
        out = []
        for rs in self.resources.list(RS, namespace):
            if controller_uid(rs) != d["metadata"]["uid"]:
                continue
            ann = rs["metadata"].get("annotations") or {}
            out.append({"revision": int(ann.get(REVISION, "0")), "replicaset": rs["metadata"]["name"],
                        "images": [c["image"] for c in rs["spec"]["template"]["spec"]["containers"]],
                        "change_cause": ann.get("kubernetes.io/change-cause"), "template": rs["spec"]["template"]})
        return sorted(out, key=lambda r: r["revision"])

    def rollback(self, namespace: str, name: str, to_revision: int = 0) -> dict:
        """``kubectl rollout undo``: put the template of revision ``to_revision`` (0: the previous) back."""
        hist = self.history(namespace, name)
        if len(hist) < 2 and not to_revision:
            raise BadRequest("no rollout history found for deployment " + name)
        target = next((h for h in hist if h["revision"] == to_revision), None) if to_revision else hist[-2]
        if target is None:
            raise NotFound(f"unable to find specified revision {to_revision} in history")
        tpl = deep(target["template"])
        tpl["metadata"].get("labels", {}).pop("pod-template-hash", None)
        return self.resources.patch(DEPLOY, namespace, name, "application/json-patch+json",
                                    [{"op": "replace", "path": "/spec/template", "value": tpl}])

    def set_paused(self, namespace: str, name: str, paused: bool) -> dict:
        return self.resources.patch(DEPLOY, namespace, name, "application/merge-patch+json",
                                    {"spec": {"paused": paused}})

    def pod_logs(self, pod: dict, container: str, *, follow: bool = False, tail: int | None = None,
                 previous: bool = False, timestamps: bool = False) -> Iterator[bytes]:
        """The container's output (stdout+stderr) as chunks of bytes."""
        if self.agent is None:
            raise NotFound("no node agent runs in this process")
        c = self.agent.container_for(pod, container, previous)
        if c is None:
            raise BadRequest(f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to start'
                             if not previous else f'previous terminated container "{container}" not found')
        kw: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": timestamps,
                              "tail": tail if tail is not None else "all"}
        if follow:
            return c.logs(stream=True, follow=True, **kw)
        return iter([c.logs(**kw)])

    def logs(self, namespace: str, pod: str, container: str | None = None, tail: int | None = 200) -> str:
        p = self.resources.get(POD, namespace, pod)
        name = container or p["spec"]["containers"][0]["name"]
        return b"".join(self.pod_logs(p, name, tail=tail)).decode(errors="replace")

    # -- service registry ------------------------------------------------------------
    def sync_registrations(self, namespace: str, name: str) -> None:
        """Register ready endpoints of a Service in the naming service (ip 127.0.0.1, the pod's host port)."""
        naming = self.ctx.services.get("naming")
        if naming is None:
            return
        svc = self.store.find("services", namespace, name)
        want: dict[tuple[str, int], str] = {}
        if svc is not None:
            first = (svc["spec"].get("ports") or [{}])[0].get("port")
            for t in service_targets(svc, self.resources.list(POD, namespace)):
                if first in t["ports"]:
                    want[("127.0.0.1", t["ports"][first])] = t["pod"]
        have = set()
        try:
            for inst in naming.list_instances(name, namespace=namespace):
                if (inst.get("metadata") or {}).get("managed-by") == MANAGED:
                    have.add((inst["ip"], int(inst["port"])))
        except Exception:  # noqa: BLE001 - the service may not exist yet in the registry
            pass
        for ip, port in set(want) - have:
            naming.register_instance(name, ip, port, namespace=namespace, ephemeral=False,
                                     metadata={"managed-by": MANAGED, "pod": want[(ip, port)]})
        for ip, port in have - set(want):
            naming.deregister_instance(name, ip, port, namespace=namespace)


__all__ = ["OrchestratorService", "json"]
