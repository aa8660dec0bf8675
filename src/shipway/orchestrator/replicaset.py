"""The ReplicaSet controller's sync, the garbage collector and the endpoints controller."""

from __future__ import annotations

import logging
import random
import string
import time

from shipway.core.errors import Conflict, NotFound
from shipway.orchestrator.objects import BY_KIND, HOST_PORTS, condition, controller_uid, deep, owner_ref, \
    parse_time, pod_available, pod_ready, selector_matches

log = logging.getLogger(__name__)
RS, POD, SVC, EP = BY_KIND["ReplicaSet"], BY_KIND["Pod"], BY_KIND["Service"], BY_KIND["Endpoints"]
NODE_NAME = "shipway-local"


def _active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _delete_rank(pod: dict) -> tuple:
    """Sort key: pods to delete first come first (unready, then newest, then most restarts)."""
    ready = pod_ready(pod)
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime")) or 0
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0
    restarts = sum(c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])
    return (ready, -since if ready else 0, -created, -restarts)


def sync_replicaset(res, ns: str, name: str) -> float | None:
    try:
        rs = res.get(RS, ns, name)
    except NotFound:
        return None
    uid = rs["metadata"]["uid"]
    pods = [p for p in res.list(POD, ns) if controller_uid(p) == uid]
    active = [p for p in pods if _active(p)]
    want = rs["spec"].get("replicas", 1)
    if rs["metadata"].get("deletionTimestamp"):
        want = 0
    diff = len(active) - want
    if diff < 0:
        for _ in range(-diff):
            _create_pod(res, rs)
    elif diff > 0:
        doomed = sorted(active, key=_delete_rank)[:diff]
        for p in doomed:
            try:
                res.delete(POD, ns, p["metadata"]["name"])
                res.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                                  "replicaset-controller")
            except NotFound:
                pass
        # They now carry a deletionTimestamp (or are gone): the status below no longer counts them, as the
        # next sync would not — one status write and one Deployment sync earlier (a rollout ends sooner).
        gone = {p["metadata"]["name"] for p in doomed}
        active = [p for p in active if p["metadata"]["name"] not in gone]
    # Failed pods of an RS are replaced (above) and removed here.
    for p in pods:
        if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp"):
            try:
                res.delete(POD, ns, p["metadata"]["name"], grace=0)
            except NotFound:
                pass
    now = time.time()
    mrs = rs["spec"].get("minReadySeconds", 0)
    status = {"replicas": len(active),
              "fullyLabeledReplicas": len(active),
              "readyReplicas": sum(1 for p in active if pod_ready(p)),
              "availableReplicas": sum(1 for p in active if pod_available(p, mrs, now)),
              "observedGeneration": rs["metadata"].get("generation", 1)}
    status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
    requeue = None
    if status.get("readyReplicas", 0) > status.get("availableReplicas", 0) and mrs:
        requeue = 1.0
    if status != (rs.get("status") or {}):
        new = deep(rs)
        new["status"] = status
        try:
            res.update(RS, ns, name, new, subresource="status")
        except (Conflict, NotFound):
            return 0.1
    return requeue


def _create_pod(res, rs: dict) -> None:
    m, tpl = rs["metadata"], rs["spec"]["template"]
    suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{m['name']}-{suffix}", "namespace": m["namespace"],
                        "labels": dict((tpl.get("metadata") or {}).get("labels") or {}),
                        "annotations": dict((tpl.get("metadata") or {}).get("annotations") or {}),
                        "ownerReferences": [owner_ref(rs, RS)]},
           "spec": dict(deep(tpl["spec"]), nodeName=NODE_NAME)}
    if not pod["metadata"]["annotations"]:
        del pod["metadata"]["annotations"]
    try:
        res.create(POD, m["namespace"], pod)
        res.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                          "replicaset-controller")
    except Conflict:
        pass


def collect_garbage(res) -> int:
    """Delete objects whose controller owner no longer exists (background cascading deletion)."""
    removed = 0
    for owner_kind, dep_kind in ((BY_KIND["Deployment"], RS), (RS, POD)):
        uids = {o["metadata"]["uid"] for o in res.list(owner_kind, None)}
        for obj in res.list(dep_kind, None):
            ref = controller_uid(obj)
            if ref and ref not in uids and not obj["metadata"].get("deletionTimestamp"):
                try:
                    res.delete(dep_kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
                    removed += 1
                except NotFound:
                    pass
    return removed


def service_targets(svc: dict, pods: list[dict]) -> list[dict]:
    """Ready endpoints of a Service: ``{pod, ip, podIP, ports: {servicePort: hostPort}}`` per ready pod."""
    sel = {"matchLabels": svc["spec"].get("selector") or {}}
    out = []
    for p in pods:
        if p["metadata"].get("namespace") != svc["metadata"].get("namespace"):
            continue
        if not selector_matches(sel, p["metadata"].get("labels")) or not pod_ready(p):
            continue
        host_ports = _host_ports(p)
        ports = {}
        for sp in svc["spec"].get("ports") or []:
            cport = _container_port(p, sp.get("targetPort", sp["port"]))
            if cport is not None and str(cport) in host_ports:
                ports[sp["port"]] = host_ports[str(cport)]
        if ports:
            out.append({"pod": p["metadata"]["name"], "ip": "127.0.0.1",
                        "podIP": (p.get("status") or {}).get("podIP"), "ports": ports})
    return out


def _host_ports(pod: dict) -> dict:
    import json
    raw = (pod["metadata"].get("annotations") or {}).get(HOST_PORTS)
    return json.loads(raw) if raw else {}


def _container_port(pod: dict, target) -> int | None:
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for c in pod["spec"]["containers"]:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return p["containerPort"]
    return None


def sync_endpoints(res, ns: str, name: str, pods: list[dict] | None = None) -> None:
    """Write the v1 Endpoints of a Service (addresses are pod IPs on the project network)."""
    try:
        svc = res.get(SVC, ns, name)
    except NotFound:
        try:
            res.delete(EP, ns, name)
        except NotFound:
            pass
        return
    pods = pods if pods is not None else res.list(POD, ns)
    sel = {"matchLabels": svc["spec"].get("selector") or {}}
    ready, not_ready = [], []
    for p in pods:
        if not selector_matches(sel, p["metadata"].get("labels")) or p["metadata"].get("deletionTimestamp"):
            continue
        ip = (p.get("status") or {}).get("podIP")
        if not ip:
            continue
        addr = {"ip": ip, "nodeName": NODE_NAME,
                "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                              "uid": p["metadata"]["uid"]}}
        (ready if pod_ready(p) else not_ready).append(addr)
    ports = []
    for sp in svc["spec"].get("ports") or []:
        target = sp.get("targetPort", sp["port"])
        cport = next((c for c in (_container_port(p, target) for p in pods) if c), None) if pods else None
        entry = {"port": cport or (target if isinstance(target, int) else sp["port"]), "protocol": "TCP"}
        if sp.get("name"):
            entry["name"] = sp["name"]
        ports.append(entry)
    subset = {}
    if ready:
        subset["addresses"] = sorted(ready, key=lambda a: a["targetRef"]["name"])
    if not_ready:
        subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["targetRef"]["name"])
    subsets = [dict(subset, ports=ports)] if subset else []
    cur = res.store.find(EP.plural, ns, name)
    body = {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": svc["metadata"].get("labels") or {}},
            "subsets": subsets}
    if cur is None:
        try:
            res.create(EP, ns, body)
        except Conflict:
            pass
    elif cur.get("subsets") != subsets:
        body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        res.update(EP, ns, name, body)


__all__ = ["sync_replicaset", "collect_garbage", "sync_endpoints", "service_targets", "NODE_NAME"]
_ = string
