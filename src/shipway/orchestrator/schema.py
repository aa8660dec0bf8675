"""The supported subset of the Kubernetes API, field by field, as a small schema language.

A schema is ``str``/``int``/``bool``/``"intstr"``/``"quantity"``/``"any"``, a dict of
field → schema (an object: unknown keys are errors), ``[schema]`` (a list) or
``{"*": schema}`` (a map with free keys). docs/orchestrator.md lists the same subset.
"""

from __future__ import annotations

STRMAP = {"*": str}

OWNER_REF = {"apiVersion": str, "kind": str, "name": str, "uid": str, "controller": bool,
             "blockOwnerDeletion": bool}
METADATA = {"name": str, "generateName": str, "namespace": str, "labels": STRMAP, "annotations": STRMAP,
            "uid": str, "resourceVersion": str, "generation": int, "creationTimestamp": "any",
            "deletionTimestamp": "any", "deletionGracePeriodSeconds": int, "ownerReferences": [OWNER_REF],
            "finalizers": [str], "managedFields": "any", "selfLink": str}

KEY_REF = {"name": str, "key": str, "optional": bool}
ENV = {"name": str, "value": str,
       "valueFrom": {"configMapKeyRef": KEY_REF, "secretKeyRef": KEY_REF,
                     "fieldRef": {"apiVersion": str, "fieldPath": str}}}
ENV_FROM = {"prefix": str, "configMapRef": {"name": str, "optional": bool},
            "secretRef": {"name": str, "optional": bool}}
HTTP_GET = {"path": str, "port": "intstr", "host": str, "scheme": str,
            "httpHeaders": [{"name": str, "value": str}]}
TCP = {"port": "intstr", "host": str}
EXEC = {"command": [str]}
PROBE = {"httpGet": HTTP_GET, "tcpSocket": TCP, "exec": EXEC, "initialDelaySeconds": int, "periodSeconds": int,
         "timeoutSeconds": int, "successThreshold": int, "failureThreshold": int,
         "terminationGracePeriodSeconds": int}
HANDLER = {"exec": EXEC, "httpGet": HTTP_GET, "tcpSocket": TCP, "sleep": {"seconds": int}}
CONTAINER = {
    "name": str, "image": str, "imagePullPolicy": str, "command": [str], "args": [str], "workingDir": str,
    "env": [ENV], "envFrom": [ENV_FROM],
    "ports": [{"name": str, "containerPort": int, "protocol": str, "hostPort": int, "hostIP": str}],
    "resources": {"limits": {"cpu": "quantity", "memory": "quantity"},
                  "requests": {"cpu": "quantity", "memory": "quantity"}},
    "volumeMounts": [{"name": str, "mountPath": str, "readOnly": bool, "subPath": str}],
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
    "lifecycle": {"preStop": HANDLER},
    "terminationMessagePath": str, "terminationMessagePolicy": str,
}
ITEMS = [{"key": str, "path": str, "mode": int}]
VOLUME = {"name": str,
          "configMap": {"name": str, "items": ITEMS, "defaultMode": int, "optional": bool},
          "secret": {"secretName": str, "items": ITEMS, "defaultMode": int, "optional": bool},
          "emptyDir": {"medium": str, "sizeLimit": "quantity"}}
POD_SPEC = {"containers": [CONTAINER], "restartPolicy": str, "terminationGracePeriodSeconds": int,
            "volumes": [VOLUME], "nodeName": str, "hostname": str, "dnsPolicy": str, "schedulerName": str}
SELECTOR = {"matchLabels": STRMAP,
            "matchExpressions": [{"key": str, "operator": str, "values": [str]}]}
TEMPLATE = {"metadata": METADATA, "spec": POD_SPEC}

SPECS = {
    "Namespace": {"spec": {"finalizers": [str]}, "status": "any"},
    "Pod": {"spec": POD_SPEC, "status": "any"},
    "ConfigMap": {"data": STRMAP, "binaryData": STRMAP, "immutable": bool},
    "Secret": {"data": STRMAP, "stringData": STRMAP, "type": str, "immutable": bool},
    "Service": {"spec": {"selector": STRMAP, "type": str, "clusterIP": str, "clusterIPs": [str],
                         "sessionAffinity": str, "ipFamilies": [str], "ipFamilyPolicy": str,
                         "internalTrafficPolicy": str,
                         "ports": [{"name": str, "protocol": str, "port": int, "targetPort": "intstr",
                                    "nodePort": int, "appProtocol": str}]},
                "status": "any"},
    "Endpoints": {"subsets": "any"},
    "Event": {"involvedObject": "any", "reason": str, "message": str, "type": str, "count": int,
              "firstTimestamp": "any", "lastTimestamp": "any", "source": "any", "eventTime": "any",
              "reportingComponent": str, "reportingInstance": str},
    "Deployment": {"spec": {"replicas": int, "selector": SELECTOR, "template": TEMPLATE,
                            "strategy": {"type": str, "rollingUpdate": {"maxSurge": "intstr",
                                                                        "maxUnavailable": "intstr"}},
                            "minReadySeconds": int, "revisionHistoryLimit": int,
                            "progressDeadlineSeconds": int, "paused": bool},
                   "status": "any"},
    "ReplicaSet": {"spec": {"replicas": int, "selector": SELECTOR, "template": TEMPLATE,
                            "minReadySeconds": int},
                   "status": "any"},
}


def check(value, schema, path: str, errors: list[dict]) -> None:
    """Append an error for every unknown field or wrongly typed value under ``path``."""
    if schema == "any" or value is None:
        return
    if schema is str:
        if not isinstance(value, str):
            errors.append(_err(path, f"must be a string, not {_tname(value)}", "FieldValueTypeInvalid"))
    elif schema is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(_err(path, f"must be an integer, not {_tname(value)}", "FieldValueTypeInvalid"))
    elif schema is bool:
        if not isinstance(value, bool):
            errors.append(_err(path, f"must be a boolean, not {_tname(value)}", "FieldValueTypeInvalid"))
    elif schema in ("intstr", "quantity"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            errors.append(_err(path, f"must be an integer or a string, not {_tname(value)}",
                               "FieldValueTypeInvalid"))
    elif isinstance(schema, list):
        if not isinstance(value, list):
            errors.append(_err(path, f"must be a list, not {_tname(value)}", "FieldValueTypeInvalid"))
            return
        for i, item in enumerate(value):
            check(item, schema[0], f"{path}[{i}]", errors)
    elif isinstance(schema, dict):
        if not isinstance(value, dict):
            errors.append(_err(path, f"must be an object, not {_tname(value)}", "FieldValueTypeInvalid"))
            return
        if "*" in schema:
            for k, v in value.items():
                check(v, schema["*"], f"{path}.{k}", errors)
            return
        for k, v in value.items():
            if k not in schema:
                errors.append(_err(f"{path}.{k}" if path else k,
                                   "unknown field: not supported by the shipway orchestrator",
                                   "FieldValueNotSupported"))
            else:
                check(v, schema[k], f"{path}.{k}" if path else k, errors)


def _err(path: str, message: str, reason: str) -> dict:
    return {"path": path, "message": message, "reason": reason}


def _tname(v) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number"}.get(type(v), type(v).__name__)
