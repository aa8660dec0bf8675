"""Minimal OpenAPI v3 documents: enough for kubectl to see server-side field validation.

kubectl's default ``--validate=strict`` asks ``/openapi/v3`` whether the PATCH
operation of an object's kind accepts ``fieldValidation``; when it does,
kubectl leaves validation to the server (which refuses unknown fields with a
422) instead of downloading full schemas. Schemas themselves are not served
(``kubectl explain`` is not supported).
"""

from __future__ import annotations

from shipway.orchestrator.objects import KINDS

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string"}}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root(prefix: str) -> dict:
    gvs = sorted({_gv_path(k.group, k.version) for k in KINDS})
    return {"paths": {gv: {"serverRelativeURL": f"{prefix}/openapi/v3/{gv}?hash=shipway1"} for gv in gvs}}


def group_version(gv: str) -> dict | None:
    kinds = [k for k in KINDS if _gv_path(k.group, k.version) == gv]
    if not kinds:
        return None
    paths = {}
    for k in kinds:
        gvk = {"group": k.group, "version": k.version, "kind": k.kind}
        base = f"/{gv}/namespaces/{{namespace}}/{k.plural}/{{name}}" if k.namespaced else f"/{gv}/{k.plural}/{{name}}"
        ops = {}
        for verb in ("get", "put", "patch", "delete"):
            ops[verb] = {"operationId": f"{verb}{k.kind}", "x-kubernetes-action": verb,
                         "x-kubernetes-group-version-kind": gvk,
                         "parameters": _PARAMS, "responses": {"200": {"description": "OK"}}}
            if verb == "patch":
                ops[verb]["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in (
                    "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")}}
                # strategic-merge-patch+json is left out on purpose: kubectl then computes strategic patches
                # from its compiled-in types (with their merge keys) instead of these schema-less documents.
        paths[base] = {"parameters": _PARAMS, **ops}
    return {"openapi": "3.0.0", "info": {"title": "shipway orchestrator", "version": "v1.32.0-shipway"},
            "paths": paths, "components": {"schemas": {}}}
