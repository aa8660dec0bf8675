"""Discovery documents: ``/version``, ``/api``, ``/apis``, resource lists per group version."""

from __future__ import annotations

from shipway.orchestrator.objects import KINDS

GIT_VERSION = "v1.32.0-shipway"
_ALL = {"pods", "services", "deployments", "replicasets"}


def version() -> dict:
    return {"major": "1", "minor": "32", "gitVersion": GIT_VERSION, "gitCommit": "shipway",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions() -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _group(name: str) -> dict:
    gv = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_groups() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group("apps")]}


def api_group(name: str) -> dict | None:
    return dict(_group(name), kind="APIGroup", apiVersion="v1") if name == "apps" else None


def resource_list(group: str, version: str) -> dict | None:
    """The ``APIResourceList`` of one group version, or None if not served."""
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds:
        return None
    resources = []
    for k in kinds:
        entry = {"name": k.plural, "singularName": k.kind.lower(), "namespaced": k.namespaced, "kind": k.kind,
                 "verbs": list(k.verbs)}
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.plural in _ALL:
            entry["categories"] = ["all"]
        resources.append(entry)
        for sub in k.subresources:
            if sub == "scale":
                resources.append({"name": f"{k.plural}/scale", "singularName": "", "namespaced": True,
                                  "group": "autoscaling", "version": "v1", "kind": "Scale",
                                  "verbs": ["get", "patch", "update"]})
            elif sub == "log":
                resources.append({"name": f"{k.plural}/log", "singularName": "", "namespaced": True,
                                  "kind": "Pod", "verbs": ["get"]})
            else:
                resources.append({"name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced,
                                  "kind": k.kind, "verbs": ["get", "patch", "update"]})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
