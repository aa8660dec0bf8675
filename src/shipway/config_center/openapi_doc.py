"""The config center's paths in the OpenAPI document (``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

_KEY_PARAMS = [{"name": n, "in": "path", "required": True, "schema": {"type": "string",
                                                                    "pattern": "^[A-Za-z0-9_.:-]+$"}}
               for n in ("namespace", "group", "dataId")]
_PAGING = [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
           {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}]
_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema: str, description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _op(summary: str, ok: dict, *, params=None, body=None, errors=(400, 401, 403, 404)) -> dict[str, Any]:
    op: dict[str, Any] = {"tags": ["config"], "summary": summary, "responses": {"200": ok}}
    for code in errors:
        op["responses"][str(code)] = _ERR
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = _body(body)
    return op


K = "/api/v1/configs/{namespace}/{group}/{dataId}"

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/configs": {"get": _op("List and search configs", _ok("ConfigPage"), params=[
        {"name": "namespace", "in": "query", "schema": {"type": "string"}},
        {"name": "group", "in": "query", "schema": {"type": "string"}, "description": "exact or glob (* ?)"},
        {"name": "dataId", "in": "query", "schema": {"type": "string"}, "description": "exact or glob (* ?)"},
        {"name": "tags", "in": "query", "schema": {"type": "string"}, "description": "comma-separated; all must match"},
        *_PAGING])},
    "/api/v1/configs/namespaces": {"get": _op("List namespaces", _ok("Namespaces")),
                                   "post": _op("Create a namespace", _ok("Namespace"), body="NamespaceIn",
                                               errors=(400, 401, 403, 409))},
    "/api/v1/configs/namespaces/{name}": {
        "put": _op("Update a namespace", _ok("Ack"), body="NamespaceIn",
                   params=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]),
        "delete": _op("Delete an empty namespace", _ok("Ack"), errors=(400, 401, 403, 404, 409),
                      params=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}])},
    "/api/v1/configs/audit": {"get": _op("Audit log (admin)", _ok("AuditPage"), params=_PAGING)},
    "/api/v1/configs/watch": {"post": _op("Long poll for changes (SDK HTTP mode)", _ok("Changed"), body="WatchIn")},
    K: {"get": _op("Get a config (beta content for matching clients)", _ok("Config"), params=_KEY_PARAMS),
        "put": _op("Publish (create or update); casMd5 for compare-and-set", _ok("Config"), params=_KEY_PARAMS,
                   body="PublishIn", errors=(400, 401, 403, 409, 413, 503)),
        "delete": _op("Delete a config", _ok("Ack"), params=_KEY_PARAMS, errors=(400, 401, 403, 404, 409, 503))},
    K + "/history": {"get": _op("Acknowledged versions, newest first", _ok("HistoryPage"),
                                params=_KEY_PARAMS + _PAGING)},
    K + "/history/{version}": {"get": _op("One version with content", _ok("HistoryEntry"), params=_KEY_PARAMS + [
        {"name": "version", "in": "path", "required": True, "schema": {"type": "integer"}}])},
    K + "/diff": {"get": _op("Unified diff of two versions", _ok("Diff"), params=_KEY_PARAMS + [
        {"name": "from", "in": "query", "required": True, "schema": {"type": "integer"}},
        {"name": "to", "in": "query", "schema": {"type": "integer"}}])},
    K + "/rollback": {"post": _op("Publish an earlier version as a new version", _ok("Config"), params=_KEY_PARAMS,
                                  body="RollbackIn")},
    K + "/beta": {"get": _op("The gray (beta) release", _ok("Config"), params=_KEY_PARAMS),
                  "put": _op("Publish a beta for client IPs and/or labels", _ok("Config"), params=_KEY_PARAMS,
                             body="BetaIn"),
                  "delete": _op("Stop the beta", _ok("Ack"), params=_KEY_PARAMS)},
    K + "/beta/promote": {"post": _op("Publish the beta to everyone", _ok("Config"), params=_KEY_PARAMS)},
}

_STR = {"type": "string"}
_INT = {"type": "integer"}
_TAGS = {"type": "array", "items": _STR}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": _STR, "message": _STR, "details": {"type": "object"}}},
    "Ack": {"type": "object"},
    "Config": {"type": "object", "properties": {
        "namespace": _STR, "group": _STR, "dataId": _STR, "content": _STR, "md5": _STR,
        "type": {"type": "string", "enum": ["text", "properties", "yaml", "json", "xml", "toml", "html"]},
        "version": _INT, "author": _STR, "time": _STR, "desc": _STR, "tags": _TAGS, "op": _STR,
        "beta": {"type": "boolean"}, "ips": _TAGS, "labels": {"type": "object"}}},
    "ConfigPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}},
                                                     "total": _INT, "page": _INT, "size": _INT}},
    "PublishIn": {"type": "object", "required": ["content"], "properties": {
        "content": {"type": "string", "maxLength": 1000000}, "type": _STR, "desc": _STR, "tags": _TAGS,
        "casMd5": {"type": "string", "description": "MD5 last seen; '' = must not exist"}}},
    "RollbackIn": {"type": "object", "required": ["version"], "properties": {"version": _INT}},
    "BetaIn": {"type": "object", "required": ["content"], "properties": {
        "content": _STR, "ips": _TAGS, "labels": {"type": "object", "additionalProperties": _STR}}},
    "WatchIn": {"type": "object", "required": ["keys"], "properties": {
        "keys": {"type": "array", "items": {"type": "object", "properties": {
            "namespace": _STR, "group": _STR, "dataId": _STR, "md5": _STR}}}, "timeout": {"type": "number"}}},
    "Changed": {"type": "object", "properties": {"changed": {"type": "array", "items": {"type": "object"}}}},
    "HistoryEntry": {"type": "object", "properties": {
        "id": _INT, "version": _INT, "op": _STR, "md5": _STR, "content": _STR, "author": _STR,
        "sourceIp": _STR, "time": _STR}},
    "HistoryPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEntry"}},
                                                      "total": _INT}},
    "Diff": {"type": "object", "properties": {"from": _INT, "to": _INT, "diff": _STR}},
    "Namespace": {"type": "object", "properties": {"namespace": _STR, "name": _STR, "desc": _STR,
                                                    "writeRole": _STR, "configCount": _INT}},
    "NamespaceIn": {"type": "object", "properties": {"namespace": _STR, "name": _STR, "desc": _STR,
                                                      "writeRole": {"type": "string", "enum": ["developer", "admin"]}}},
    "Namespaces": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Namespace"}}}},
    "AuditPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}, "total": _INT}},
}
