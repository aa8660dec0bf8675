"""Object semantics over the store: what the API server and the controllers call.

Create/update/patch/delete with Kubernetes' rules: validation (422 with every
error), defaulting, ``uid``/``creationTimestamp``/``generation`` bookkeeping,
status and scale subresources, graceful deletion of pods, Service port
allocation and namespace checks.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import string
from typing import Any

from shipway.core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from shipway.orchestrator import patch as patches
from shipway.orchestrator.objects import BY_KIND, Kind, deep, new_uid, now
from shipway.orchestrator.store import ObjectStore
from shipway.orchestrator.validation import apply_defaults, validate

APPLIED_BY = "orchestrator.shipway.io/applied-"  # annotation prefix: last server-side applied config per manager
DEFAULT_PORT_RANGE = "30000-32767"


class Invalid(ValidationFailed):
    """A 422 whose details carry Kubernetes-style causes."""

    def __init__(self, kind: str, name: str, errors: list[dict]) -> None:
        msg = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        super().__init__(f'{kind} "{name}" is invalid: {msg}', errors, status=422)
        self.kind, self.name = kind, name


class Resources:
    """The orchestrator's object API (used by the HTTP API, the controllers and the agent)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        from shipway.orchestrator.events import Recorder
        self.events = Recorder(store)
        lo, _, hi = os.environ.get("SHIPWAY_ORCHESTRATOR_PORTS", DEFAULT_PORT_RANGE).partition("-")
        self.port_range = (int(lo), int(hi))

    # -- reads -----------------------------------------------------------
    def get(self, kind: Kind, ns: str | None, name: str) -> dict:
        try:
            return self.store.get(kind.plural, ns if kind.namespaced else None, name)
        except NotFound:
            raise NotFound(f'{kind.plural} "{name}" not found', details={"kind": kind.plural, "name": name}) from None

    def list(self, kind: Kind, ns: str | None) -> list[dict]:
        if not kind.namespaced:
            return self.store.list(kind.plural, None)
        return self.store.list(kind.plural, ns, all_namespaces=ns is None)

    # -- writes -------------------------------------------------------------
    def create(self, kind: Kind, ns: str | None, obj: dict, *, dry_run: bool = False) -> dict:
        obj = drop_nulls(deep(obj))
        m = obj.setdefault("metadata", {})
        if kind.namespaced:
            if m.get("namespace") and ns and m["namespace"] != ns:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on "
                                 "the request", field="metadata.namespace")
            m["namespace"] = ns or m.get("namespace") or "default"
            self._require_namespace(m["namespace"])
        else:
            m.pop("namespace", None)
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        self._check(kind, obj)
        for f in ("resourceVersion", "deletionTimestamp", "managedFields", "selfLink"):
            m.pop(f, None)
        m.update(uid=new_uid(), creationTimestamp=now(), generation=1)
        apply_defaults(obj, kind)
        if kind.kind in ("Deployment", "ReplicaSet"):
            obj["status"] = {}
        elif kind.kind == "Pod":
            obj["status"] = {"phase": "Pending", "conditions": [], "qosClass": "BestEffort"}
        elif kind.kind == "Secret":
            _fold_string_data(obj)
        elif kind.kind == "Service":
            self._allocate_ports(obj, None)
        if dry_run:
            return obj
        return self.store.create(kind.plural, obj)

    def update(self, kind: Kind, ns: str | None, name: str, obj: dict, *, subresource: str | None = None,
               dry_run: bool = False, current: dict | None = None) -> dict:
        """Replace an object (or only its ``status``); 409 if ``metadata.resourceVersion`` is stale."""
        cur = current or self.get(kind, ns, name)
        obj = drop_nulls(deep(obj))
        m = obj.setdefault("metadata", {})
        if m.get("name", name) != name:
            raise BadRequest("the name of the object does not match the name on the URL", field="metadata.name")
        expect = m.get("resourceVersion")
        if subresource == "status":
            new = deep(cur)
            new["status"] = obj.get("status") or {}
        else:
            new = obj
            m["name"], m["namespace"] = name, cur["metadata"].get("namespace")
            if not kind.namespaced:
                m.pop("namespace", None)
            self._check(kind, new)
            for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if f in cur["metadata"]:
                    m[f] = cur["metadata"][f]
                else:
                    m.pop(f, None)
            m.pop("managedFields", None)
            apply_defaults(new, kind)
            if "status" in cur and kind.kind not in ("Namespace",):
                new["status"] = cur["status"]
            if kind.kind in ("Deployment", "ReplicaSet"):
                if new["spec"].get("selector") != cur["spec"].get("selector"):
                    raise Invalid(kind.kind, name, [{"path": "spec.selector", "reason": "FieldValueInvalid",
                                                     "message": "Invalid value: field is immutable"}])
            if kind.kind == "Secret":
                _fold_string_data(new)
            if kind.kind == "Service":
                self._allocate_ports(new, cur)
            spec_changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != \
                {k: v for k, v in cur.items() if k not in ("metadata", "status")}
            m["generation"] = cur["metadata"].get("generation", 1) + (1 if spec_changed else 0)
        if dry_run:
            return new
        return self.store.update(kind.plural, new, expect_rv=expect)

    def patch(self, kind: Kind, ns: str | None, name: str, ptype: str, body: Any, *,
              subresource: str | None = None, field_manager: str = "", force: bool = False,
              dry_run: bool = False) -> dict:
        """Apply a patch of content type ``ptype``; retries on write conflicts (a patch is not CAS)."""
        for attempt in range(8):
            cur = self.store.find(kind.plural, ns if kind.namespaced else None, name)
            if cur is None:
                if ptype.startswith("application/apply-patch"):
                    created = deep(body)
                    self._remember_apply(created, field_manager, body)
                    return self.create(kind, ns, created, dry_run=dry_run)
                raise NotFound(f'{kind.plural} "{name}" not found', details={"kind": kind.plural, "name": name})
            new = self._patched(kind, cur, ptype, body, field_manager, subresource)
            new.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
            try:
                return self.update(kind, ns, name, new, subresource=subresource, dry_run=dry_run, current=cur)
            except Conflict:
                if attempt == 7:
                    raise
        raise AssertionError("unreachable")

    def _patched(self, kind: Kind, cur: dict, ptype: str, body: Any, manager: str, sub: str | None) -> dict:
        if ptype.startswith("application/json-patch"):
            return patches.json_patch(cur, body)
        if not isinstance(body, dict):
            raise BadRequest("the patch must be a JSON object")
        if ptype.startswith("application/merge-patch"):
            return patches.merge_patch(cur, body)
        if ptype.startswith("application/strategic-merge-patch"):
            return patches.strategic_merge(cur, body)
        if ptype.startswith("application/apply-patch"):
            prev_raw = (cur["metadata"].get("annotations") or {}).get(APPLIED_BY + (manager or "unknown"))
            prev = json.loads(prev_raw) if prev_raw else None
            new = patches.server_side_apply(cur, body, prev)
            self._remember_apply(new, manager, body)
            return new
        raise BadRequest(f"unsupported patch type {ptype!r}", status=415)

    @staticmethod
    def _remember_apply(obj: dict, manager: str, applied: dict) -> None:
        ann = obj.setdefault("metadata", {}).setdefault("annotations", {})
        slim = {k: v for k, v in applied.items() if k not in ("status",)}
        ann[APPLIED_BY + (manager or "unknown")] = json.dumps(slim, sort_keys=True, separators=(",", ":"))

    def delete(self, kind: Kind, ns: str | None, name: str, *, grace: int | None = None,
               dry_run: bool = False) -> dict:
        """Delete; pods end gracefully (the agent removes them), dependents go through the garbage collector."""
        cur = self.get(kind, ns, name)
        if dry_run:
            return cur
        if kind.kind == "Pod" and grace != 0 and not _pod_done(cur):
            if cur["metadata"].get("deletionTimestamp"):
                return cur
            cur["metadata"]["deletionTimestamp"] = now()
            cur["metadata"]["deletionGracePeriodSeconds"] = (
                grace if grace is not None else cur["spec"].get("terminationGracePeriodSeconds", 30))
            return self.store.update(kind.plural, cur, expect_rv=None)
        if kind.kind == "Namespace":
            if name in ("default", "kube-system"):
                raise Conflict(f"namespace {name!r} cannot be deleted")
            cur.setdefault("status", {})["phase"] = "Terminating"
            cur = self.store.update(kind.plural, cur, expect_rv=None)  # refuses new content from now on
            # Owners first so controllers do not recreate what is being removed; pods end gracefully.
            for plural in ("deployments", "replicasets", "services", "endpoints", "configmaps", "secrets",
                           "events", "pods"):
                for o in self.store.list(plural, name):
                    try:
                        if plural == "pods":
                            self.delete(BY_KIND["Pod"], name, o["metadata"]["name"])
                        else:
                            self.store.delete(plural, o)
                    except NotFound:
                        pass
        self.store.delete(kind.plural, cur)
        return cur

    # -- helpers --------------------------------------------------------------
    def _check(self, kind: Kind, obj: dict) -> None:
        errors = validate(obj, kind)
        if errors:
            raise Invalid(kind.kind, (obj.get("metadata") or {}).get("name") or "", errors)

    def _require_namespace(self, ns: str) -> None:
        nsk = BY_KIND["Namespace"]
        found = self.store.find("namespaces", None, ns)
        if found is not None and (found.get("status") or {}).get("phase") == "Terminating":
            from shipway.core.errors import Forbidden
            raise Forbidden(f"unable to create new content in namespace {ns} because it is being terminated")
        if found is None:
            if ns == "default":
                self.create(nsk, None, {"metadata": {"name": "default"}})
                return
            raise NotFound(f'namespaces "{ns}" not found', details={"kind": "namespaces", "name": ns})

    def ensure_default_namespace(self) -> None:
        try:
            self._require_namespace("default")
        except Conflict:
            pass

    def _allocate_ports(self, svc: dict, cur: dict | None) -> None:
        """Give every Service port a stable 127.0.0.1 port (kept across updates)."""
        used = set()
        for other in self.store.list("services", all_namespaces=True):
            if other["metadata"]["uid"] == (cur or {}).get("metadata", {}).get("uid"):
                continue
            used.update(p.get("nodePort") for p in other["spec"].get("ports") or [])
        old = {p.get("port"): p.get("nodePort") for p in ((cur or {}).get("spec") or {}).get("ports") or []}
        lo, hi = self.port_range
        for i, p in enumerate(svc["spec"]["ports"]):
            if p.get("nodePort"):
                if p["nodePort"] in used:
                    raise Invalid("Service", svc["metadata"]["name"], [{
                        "path": f"spec.ports[{i}].nodePort", "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {p['nodePort']}: provided port is already allocated"}])
            elif old.get(p.get("port")):
                p["nodePort"] = old[p["port"]]
            else:
                p["nodePort"] = next((n for n in range(lo, hi + 1) if n not in used and _free(n)), None)
                if p["nodePort"] is None:
                    raise Conflict(f"no free port left in {lo}-{hi} for Service ports")
            used.add(p["nodePort"])
        svc["spec"].setdefault("clusterIP", "127.0.0.1")


def drop_nulls(value: Any) -> Any:
    """Remove null fields (Kubernetes decodes ``"creationTimestamp": null`` as absent)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pod_done(pod: dict) -> bool:
    """A pod the agent never started (or already finished) needs no graceful end."""
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and not pod["spec"].get("nodeName")


def _fold_string_data(secret: dict) -> None:
    sd = secret.pop("stringData", None) or {}
    data = secret.setdefault("data", {})
    for k, v in sd.items():
        data[k] = base64.b64encode(v.encode()).decode()
