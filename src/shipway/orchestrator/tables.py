"""Server-side printing: ``meta.k8s.io/v1 Table`` answers so ``kubectl get`` shows native columns."""

from __future__ import annotations

import time
from typing import Callable

from shipway.orchestrator.objects import condition, parse_time


def human_age(ts: str | None, at: float | None = None) -> str:
    """Kubernetes' HumanDuration (``45s``, ``3m20s``, ``5h``, ``12d``)."""
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    s = max(0, int((at or time.time()) - t))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    return f"{h // 24}d"


def _col(name: str, ctype: str = "string", priority: int = 0, desc: str = "") -> dict:
    return {"name": name, "type": ctype, "format": "name" if name == "Name" else "", "description": desc,
            "priority": priority}


def pod_status_reason(pod: dict) -> str:
    """The STATUS column of ``kubectl get pods`` (waiting/terminated reasons beat the phase)."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Pending"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason") and state["waiting"]["reason"] != "ContainerCreating" \
                or (state.get("waiting") and reason == "Pending"):
            reason = state["waiting"].get("reason") or reason
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    return reason


def _deploy(o: dict) -> list:
    s, spec = o.get("status") or {}, o["spec"]
    c = spec["template"]["spec"]["containers"]
    return [o["metadata"]["name"], f"{s.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            s.get("updatedReplicas", 0), s.get("availableReplicas", 0), None,
            ",".join(x["name"] for x in c), ",".join(x["image"] for x in c), _sel(spec.get("selector"))]


def _rs(o: dict) -> list:
    s, spec = o.get("status") or {}, o["spec"]
    c = spec["template"]["spec"]["containers"]
    return [o["metadata"]["name"], spec.get("replicas", 0), s.get("replicas", 0), s.get("readyReplicas", 0),
            None, ",".join(x["name"] for x in c), ",".join(x["image"] for x in c), _sel(spec.get("selector"))]


def _pod(o: dict) -> list:
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for x in cs if x.get("ready"))
    restarts = sum(x.get("restartCount", 0) for x in cs)
    return [o["metadata"]["name"], f"{ready}/{len(o['spec']['containers'])}", pod_status_reason(o), restarts,
            None, st.get("podIP") or "<none>", o["spec"].get("nodeName") or "<none>"]


def _svc(o: dict) -> list:
    spec = o["spec"]
    ports = ",".join(f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    sel = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", "<none>",
            ports, None, sel]


def _sel(sel: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in ((sel or {}).get("matchLabels") or {}).items())


def _endpoints(o: dict) -> list:
    addrs = [f"{a['ip']}:{p['port']}" for s in o.get("subsets") or [] for a in s.get("addresses") or []
             for p in s.get("ports") or []]
    return [o["metadata"]["name"], ",".join(addrs[:3]) + (" + more..." if len(addrs) > 3 else "") or "<none>",
            None]


COLUMNS: dict[str, tuple[list[dict], Callable[[dict], list]]] = {
    "Deployment": ([_col("Name"), _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"),
                    _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
                    _col("Selector", priority=1)], _deploy),
    "ReplicaSet": ([_col("Name"), _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                    _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
                    _col("Selector", priority=1)], _rs),
    "Pod": ([_col("Name"), _col("Ready"), _col("Status"), _col("Restarts", "integer"), _col("Age"),
             _col("IP", priority=1), _col("Node", priority=1)], _pod),
    "Service": ([_col("Name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
                 _col("Age"), _col("Selector", priority=1)], _svc),
    "Namespace": ([_col("Name"), _col("Status"), _col("Age")],
                  lambda o: [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), None]),
    "ConfigMap": ([_col("Name"), _col("Data", "integer"), _col("Age")],
                  lambda o: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                             None]),
    "Secret": ([_col("Name"), _col("Type"), _col("Data", "integer"), _col("Age")],
               lambda o: [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}), None]),
    "Endpoints": ([_col("Name"), _col("Endpoints"), _col("Age")], _endpoints),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message"), _col("Name", priority=1),
               _col("Age", priority=1)],
              lambda o: [human_age(o.get("lastTimestamp")), o.get("type", ""), o.get("reason", ""),
                         f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
                         f"{(o.get('involvedObject') or {}).get('name', '')}", o.get("message", ""),
                         o["metadata"]["name"], None]),
}


def to_table(kind: str, objects: list[dict], resource_version: str) -> dict:
    """A ``Table`` of ``objects`` (each row carries its full object, as ``includeObject=Object``)."""
    cols, fn = COLUMNS.get(kind, ([_col("Name"), _col("Age")], lambda o: [o["metadata"]["name"], None]))
    age_idx = next(i for i, c in enumerate(cols) if c["name"] == "Age")
    rows = []
    for o in objects:
        cells = fn(o)
        cells[age_idx] = human_age(o["metadata"].get("creationTimestamp"))
        rows.append({"cells": cells, "object": o})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": cols, "rows": rows}


__all__ = ["to_table", "human_age", "pod_status_reason", "condition"]
