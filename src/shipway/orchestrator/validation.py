"""Validation and defaulting of incoming objects: every error with its field path.

:func:`validate` returns a list of ``{"path", "message", "reason"}`` dicts
(empty when the object is valid); :func:`apply_defaults` fills in Kubernetes'
defaults so that stored objects look like a real cluster's.
"""

from __future__ import annotations

import re
from typing import Any

from shipway.orchestrator import schema
from shipway.orchestrator.objects import Kind, quantity

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def validate(obj: dict, kind: Kind) -> list[dict]:
    """Every structural and semantic error of ``obj`` (a ``kind``), with field paths."""
    errors: list[dict] = []
    top = {"apiVersion": str, "kind": str, "metadata": schema.METADATA, **schema.SPECS[kind.kind]}
    schema.check(obj, top, "", errors)
    structural = bool(errors)
    if obj.get("kind") not in (None, kind.kind):
        errors.append(_e("kind", f"must be {kind.kind} for this path, not {obj.get('kind')!r}"))
    if obj.get("apiVersion") not in (None, kind.api_version):
        errors.append(_e("apiVersion", f"must be {kind.api_version}, not {obj.get('apiVersion')!r}"))
    m = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = m.get("name") if isinstance(m.get("name"), str) else None
    if not name and not m.get("generateName"):
        errors.append(_e("metadata.name", "Required value: name or generateName is required", "FieldValueRequired"))
    elif name and (len(name) > 63 or not _DNS1123_SUB.match(name)):
        errors.append(_e("metadata.name", f"Invalid value: {name!r}: a lowercase RFC 1123 name must consist of "
                                          "lower case alphanumeric characters, '-' or '.', at most 63 characters"))
    for k, v in (m.get("labels") or {}).items():
        if isinstance(v, str) and len(v) > 63 or not _LABEL_VALUE.match(v):
            errors.append(_e(f"metadata.labels.{k}", f"Invalid value: {v!r}: not a valid label value"))
    check = _CHECKS.get(kind.kind)
    if check:
        try:
            check(obj, errors)
        except (TypeError, AttributeError, KeyError):
            if not structural:  # wrong shapes are already reported; anything else is a bug
                raise
    return errors


def _e(path: str, message: str, reason: str = "FieldValueInvalid") -> dict:
    return {"path": path, "message": message, "reason": reason}


def _pod_spec(spec: dict, path: str, errors: list[dict]) -> None:
    containers = spec.get("containers") or []
    if not containers:
        errors.append(_e(f"{path}.containers", "Required value: at least one container", "FieldValueRequired"))
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        errors.append(_e(f"{path}.restartPolicy", "Unsupported value: must be Always, OnFailure or Never",
                         "FieldValueNotSupported"))
    volumes = {}
    for i, v in enumerate(spec.get("volumes") or []):
        vp = f"{path}.volumes[{i}]"
        if not v.get("name"):
            errors.append(_e(f"{vp}.name", "Required value", "FieldValueRequired"))
        sources = [s for s in ("configMap", "secret", "emptyDir") if s in v]
        if len(sources) != 1:
            errors.append(_e(vp, "must specify exactly one of configMap, secret, emptyDir"))
        volumes[v.get("name")] = v
    names = set()
    for i, c in enumerate(containers):
        cp = f"{path}.containers[{i}]"
        if not c.get("name") or not _DNS1123_LABEL.match(c["name"]):
            errors.append(_e(f"{cp}.name", f"Invalid value: {c.get('name')!r}: must be a DNS-1123 label"))
        elif c["name"] in names:
            errors.append(_e(f"{cp}.name", f"Duplicate value: {c['name']!r}", "FieldValueDuplicate"))
        names.add(c.get("name"))
        if not c.get("image"):
            errors.append(_e(f"{cp}.image", "Required value", "FieldValueRequired"))
        if c.get("imagePullPolicy", "IfNotPresent") not in ("Always", "IfNotPresent", "Never"):
            errors.append(_e(f"{cp}.imagePullPolicy", "Unsupported value", "FieldValueNotSupported"))
        for j, env in enumerate(c.get("env") or []):
            if not env.get("name") or not _ENV_NAME.match(env["name"]):
                errors.append(_e(f"{cp}.env[{j}].name", f"Invalid value: {env.get('name')!r}"))
            vf = env.get("valueFrom")
            if vf and len(vf) != 1:
                errors.append(_e(f"{cp}.env[{j}].valueFrom", "must specify exactly one source"))
            if vf and "value" in env:
                errors.append(_e(f"{cp}.env[{j}].valueFrom", "may not be specified when `value` is not empty"))
        for j, port in enumerate(c.get("ports") or []):
            if not 1 <= port.get("containerPort", 0) <= 65535:
                errors.append(_e(f"{cp}.ports[{j}].containerPort", "Invalid value: must be between 1 and 65535"))
            if port.get("protocol", "TCP") != "TCP":
                errors.append(_e(f"{cp}.ports[{j}].protocol", "Unsupported value: only TCP is supported",
                                 "FieldValueNotSupported"))
        for section in ("limits", "requests"):
            for res, q in ((c.get("resources") or {}).get(section) or {}).items():
                try:
                    quantity(q)
                except ValueError as e:
                    errors.append(_e(f"{cp}.resources.{section}.{res}", f"Invalid value: {q!r}: {e}"))
        for j, vm in enumerate(c.get("volumeMounts") or []):
            if vm.get("name") not in volumes:
                errors.append(_e(f"{cp}.volumeMounts[{j}].name", f"Not found: {vm.get('name')!r}",
                                 "FieldValueNotFound"))
            if not str(vm.get("mountPath", "")).startswith("/"):
                errors.append(_e(f"{cp}.volumeMounts[{j}].mountPath", "must be an absolute path"))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            p = c.get(probe)
            if p is not None and len([h for h in ("httpGet", "tcpSocket", "exec") if h in p]) != 1:
                errors.append(_e(f"{cp}.{probe}", "must specify exactly one handler: httpGet, tcpSocket or exec"))


def _selector_template(spec: dict, errors: list[dict]) -> None:
    sel = spec.get("selector")
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        errors.append(_e("spec.selector", "Required value", "FieldValueRequired"))
    for i, expr in enumerate((sel or {}).get("matchExpressions") or []):
        if expr.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errors.append(_e(f"spec.selector.matchExpressions[{i}].operator", "Unsupported value",
                             "FieldValueNotSupported"))
    tpl = spec.get("template") or {}
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    from shipway.orchestrator.objects import selector_matches
    if sel and not selector_matches(sel, labels):
        errors.append(_e("spec.template.metadata.labels", "Invalid value: `selector` does not match template "
                                                          "`labels`"))
    if spec.get("replicas", 0) < 0:
        errors.append(_e("spec.replicas", "Invalid value: must be greater than or equal to 0"))
    if not tpl.get("spec"):
        errors.append(_e("spec.template.spec", "Required value", "FieldValueRequired"))
    else:
        _pod_spec(tpl["spec"], "spec.template.spec", errors)
        if tpl["spec"].get("restartPolicy", "Always") != "Always":
            errors.append(_e("spec.template.spec.restartPolicy", "Unsupported value: only \"Always\" is allowed",
                             "FieldValueNotSupported"))


def _deployment(obj: dict, errors: list[dict]) -> None:
    spec = obj.get("spec") or {}
    _selector_template(spec, errors)
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") not in ("RollingUpdate", "Recreate"):
        errors.append(_e("spec.strategy.type", "Unsupported value: must be RollingUpdate or Recreate",
                         "FieldValueNotSupported"))
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate"):
        errors.append(_e("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` "
                                                        "is 'Recreate'", "FieldValueForbidden"))
    ru = strategy.get("rollingUpdate") or {}
    for f in ("maxSurge", "maxUnavailable"):
        v = ru.get(f)
        if isinstance(v, str) and not re.match(r"^\d+%?$", v):
            errors.append(_e(f"spec.strategy.rollingUpdate.{f}", f"Invalid value: {v!r}: must be an integer or "
                                                                 "percentage (e.g '5%')"))
    if str(ru.get("maxSurge", 1)).rstrip("%") in ("0",) and str(ru.get("maxUnavailable", 1)).rstrip("%") == "0":
        errors.append(_e("spec.strategy.rollingUpdate.maxUnavailable",
                         "Invalid value: may not be 0 when `maxSurge` is 0"))


def _replicaset(obj: dict, errors: list[dict]) -> None:
    _selector_template(obj.get("spec") or {}, errors)


def _pod(obj: dict, errors: list[dict]) -> None:
    _pod_spec(obj.get("spec") or {}, "spec", errors)


def _service(obj: dict, errors: list[dict]) -> None:
    spec = obj.get("spec") or {}
    if spec.get("type", "ClusterIP") not in ("ClusterIP", "NodePort"):
        errors.append(_e("spec.type", "Unsupported value: only ClusterIP and NodePort are supported",
                         "FieldValueNotSupported"))
    if not spec.get("ports"):
        errors.append(_e("spec.ports", "Required value", "FieldValueRequired"))
    for i, p in enumerate(spec.get("ports") or []):
        if not 1 <= p.get("port", 0) <= 65535:
            errors.append(_e(f"spec.ports[{i}].port", "Invalid value: must be between 1 and 65535"))
        if p.get("protocol", "TCP") != "TCP":
            errors.append(_e(f"spec.ports[{i}].protocol", "Unsupported value: only TCP", "FieldValueNotSupported"))
        if len(spec["ports"]) > 1 and not p.get("name"):
            errors.append(_e(f"spec.ports[{i}].name", "Required value: names are required with several ports",
                             "FieldValueRequired"))


_CHECKS = {"Deployment": _deployment, "ReplicaSet": _replicaset, "Pod": _pod, "Service": _service}


# -- defaulting -------------------------------------------------------------
def _default_probe(p: dict | None) -> None:
    if p is None:
        return
    for k, v in (("initialDelaySeconds", 0), ("periodSeconds", 10), ("timeoutSeconds", 1),
                 ("successThreshold", 1), ("failureThreshold", 3)):
        p.setdefault(k, v)
    if "httpGet" in p:
        p["httpGet"].setdefault("path", "/")
        p["httpGet"].setdefault("scheme", "HTTP")


def default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        tag = c.get("image", "").rpartition("/")[2]
        c.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for port in c.get("ports") or []:
            port.setdefault("protocol", "TCP")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            _default_probe(c.get(probe))


def apply_defaults(obj: dict, kind: Kind) -> None:
    """Fill Kubernetes' defaults in place (what `kubectl get -o yaml` shows on a real cluster)."""
    obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
    spec: Any = obj.get("spec")
    if kind.kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
        default_pod_spec(spec["template"]["spec"])
    elif kind.kind == "ReplicaSet":
        spec.setdefault("replicas", 1)
        default_pod_spec(spec["template"]["spec"])
    elif kind.kind == "Pod":
        default_pod_spec(spec)
    elif kind.kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
    elif kind.kind == "Secret":
        obj.setdefault("type", "Opaque")
    elif kind.kind == "Namespace":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
