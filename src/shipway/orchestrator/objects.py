"""The kinds the orchestrator serves and small helpers over Kubernetes object dicts.

Objects are plain JSON dicts in Kubernetes' own schema. Helpers here never
mutate their inputs unless the name says so.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any


@dataclasses.dataclass(frozen=True)
class Kind:
    """One served resource type."""

    kind: str
    plural: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS: tuple[Kind, ...] = (
    Kind("Namespace", "namespaces", "", "v1", False, ("ns",)),
    Kind("Pod", "pods", "", "v1", True, ("po",), ("status", "log")),
    Kind("Service", "services", "", "v1", True, ("svc",), ("status",)),
    Kind("Endpoints", "endpoints", "", "v1", True, ("ep",)),
    Kind("ConfigMap", "configmaps", "", "v1", True, ("cm",)),
    Kind("Secret", "secrets", "", "v1", True),
    Kind("Event", "events", "", "v1", True, ("ev",), verbs=("get", "list", "watch")),
    Kind("Deployment", "deployments", "apps", "v1", True, ("deploy",), ("status", "scale")),
    Kind("ReplicaSet", "replicasets", "apps", "v1", True, ("rs",), ("status", "scale")),
)
BY_PLURAL = {(k.group, k.plural): k for k in KINDS}
BY_KIND = {k.kind: k for k in KINDS}

MANAGED_BY = "org.shipway.orchestrator"  # label prefix on Docker containers and networks
REVISION = "deployment.kubernetes.io/revision"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HOST_PORTS = "orchestrator.shipway.io/host-ports"  # pod annotation: containerPort -> 127.0.0.1 port


def now() -> str:
    """An RFC 3339 timestamp in UTC with second precision, as Kubernetes writes them."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def new_uid() -> str:
    return str(uuid.uuid4())


def meta(obj: dict) -> dict:
    return obj.setdefault("metadata", {})


def key_of(obj: dict) -> str:
    m = obj.get("metadata", {})
    return f"{m.get('namespace') or ''}/{m.get('name')}"


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)


def template_hash(template: dict) -> str:
    """A stable short hash of a pod template (the pod-template-hash label value)."""
    t = deep(template)
    t.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    raw = json.dumps(t, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(raw).hexdigest()
    # Kubernetes uses safe-encoded fnv hashes like "5d59d67564"; keep the same shape.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = ""
    while len(out) < 10:
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return out


# -- label selectors ---------------------------------------------------------
def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select ``labels``? Empty selects nothing."""
    if not selector:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=|\s+in\s+|\s+notin\s+)\s*(.*?))?\s*$")


def parse_label_query(query: str | None) -> list[tuple[str, str, list[str]]]:
    """Parse a ``labelSelector`` query string (``a=b,c!=d,e in (f,g),!h,i``) into requirements."""
    if not query:
        return []
    parts, depth, cur = [], 0, ""
    for ch in query:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    reqs = []
    for p in parts:
        m = _REQ.match(p)
        if not m:
            raise ValueError(f"unable to parse requirement {p!r}")
        neg, key, op, val = m.groups()
        if op is None:
            reqs.append((key, "DoesNotExist" if neg else "Exists", []))
            continue
        op = op.strip()
        if op in ("in", "notin"):
            vals = [v.strip() for v in val.strip().strip("()").split(",") if v.strip()]
            reqs.append((key, "In" if op == "in" else "NotIn", vals))
        else:
            reqs.append((key, "In" if op in ("=", "==") else "NotIn", [val]))
    return reqs


def label_query_matches(reqs: list[tuple[str, str, list[str]]], labels: dict | None) -> bool:
    sel = {"matchExpressions": [{"key": k, "operator": op, "values": v} for k, op, v in reqs]}
    return not reqs or selector_matches(sel, labels)


def field_query_matches(query: str | None, obj: dict) -> bool:
    """``fieldSelector`` support: ``metadata.name``, ``metadata.namespace``, ``involvedObject.*``, ``spec.nodeName``."""
    if not query:
        return True
    for part in query.split(","):
        neg = "!=" in part
        key, _, want = part.partition("!=" if neg else ("==" if "==" in part else "="))
        cur: Any = obj
        for seg in key.strip().split("."):
            cur = cur.get(seg) if isinstance(cur, dict) else None
        have = "" if cur is None else str(cur)
        if (have == want.strip()) == neg:
            return False
    return True


def owner_ref(owner: dict, kind: Kind) -> dict:
    m = owner["metadata"]
    return {"apiVersion": kind.api_version, "kind": kind.kind, "name": m["name"], "uid": m["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controller_uid(obj: dict) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def condition(obj: dict, ctype: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def set_condition(status: dict, ctype: str, value: str, reason: str, message: str) -> None:
    """Set a status condition, keeping lastTransitionTime when the value did not change."""
    conds = status.setdefault("conditions", [])
    t = now()
    for c in conds:
        if c["type"] == ctype:
            if c.get("status") != value:
                c["lastTransitionTime"] = t
            if c.get("status") != value or c.get("reason") != reason:
                c["lastUpdateTime"] = t
            c.update(status=value, reason=reason, message=message)
            return
    conds.append({"type": ctype, "status": value, "lastUpdateTime": t, "lastTransitionTime": t,
                  "reason": reason, "message": message})


def pod_ready(pod: dict) -> bool:
    c = condition(pod, "Ready")
    return bool(c and c.get("status") == "True") and not pod["metadata"].get("deletionTimestamp")


def pod_available(pod: dict, min_ready_seconds: int, at: float) -> bool:
    if not pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time(condition(pod, "Ready").get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= at


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """Resolve an IntOrString like ``25%`` against ``total``."""
    if isinstance(value, int):
        return value
    s = str(value)
    if s.endswith("%"):
        pct = int(s[:-1])
        q, r = divmod(pct * total, 100)
        return q + (1 if round_up and r else 0)
    return int(s)


_QTY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti|)$")
_MULT = {"": 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024 ** 2,
         "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def quantity(value: Any) -> float:
    """Parse a Kubernetes quantity (``500m``, ``1``, ``64Mi``); raises ValueError."""
    m = _QTY.match(str(value))
    if not m:
        raise ValueError(f"quantities must match the regular expression '{_QTY.pattern}'")
    return float(m.group(1)) * _MULT[m.group(2)]
