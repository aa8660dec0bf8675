"""The naming API's paths in the OpenAPI document (``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_NS = {"name": "namespace", "in": "query", "schema": {"type": "string", "default": "public"}}
_GROUP = {"name": "group", "in": "query", "schema": {"type": "string", "default": "DEFAULT_GROUP"}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]+$"}}
_IID = {"name": "instanceId", "in": "path", "required": True, "description": "ip#port#cluster#group@@service, URL-encoded",
        "schema": {"type": "string"}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, schema: str | None, *, status: str = "200", params=(), body: str | None = None,
        errors=(400, 401, 403, 404)) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "ok"}
    if schema:
        ok["content"] = {"application/json": {"schema": _ref(schema)}}
    op: dict[str, Any] = {"tags": ["naming"], "summary": summary, "responses": {status: ok}}
    for code in errors:
        op["responses"][str(code)] = _ERR
    if params:
        op["parameters"] = list(params)
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


B = "/api/v1/naming"
PATHS: dict[str, dict[str, Any]] = {
    f"{B}/namespaces": {"get": _op("Namespaces in use", "NamingList")},
    f"{B}/services": {
        "get": _op("List services (paged)", "NamingServicePage", params=[
            _NS, {"name": "group", "in": "query", "schema": _STR}, {"name": "contains", "in": "query", "schema": _STR},
            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}]),
        "post": _op("Create a service", "NamingService", status="201", body="NamingServiceInput",
                    errors=(400, 401, 403, 409)),
    },
    f"{B}/services/{{name}}": {
        "get": _op("A service with counts and clusters", "NamingService", params=[_NAME, _NS, _GROUP]),
        "put": _op("Change protect threshold / metadata", "NamingService", params=[_NAME, _NS, _GROUP],
                   body="NamingServiceInput"),
        "delete": _op("Delete an empty service", None, status="204", params=[_NAME, _NS, _GROUP],
                      errors=(400, 401, 403, 404, 409)),
    },
    f"{B}/services/{{name}}/instances": {
        "get": _op("Instances of a service", "NamingInstanceList", params=[
            _NAME, _NS, _GROUP, {"name": "cluster", "in": "query", "schema": _STR},
            {"name": "healthyOnly", "in": "query", "schema": {"type": "boolean"}}]),
        "post": _op("Register an instance (persistent, or heartbeat with ephemeral=true)", "NamingInstance",
                    status="201", params=[_NAME, _NS, _GROUP], body="NamingInstanceInput",
                    errors=(400, 401, 403, 409)),
    },
    f"{B}/instances/{{instanceId}}": {
        "get": _op("One instance", "NamingInstance", params=[_IID, _NS]),
        "patch": _op("Change weight / enabled / healthy / metadata", "NamingInstance", params=[_IID, _NS],
                     body="NamingInstancePatch"),
        "delete": _op("Deregister", None, status="204", params=[_IID, _NS]),
    },
    f"{B}/instances/{{instanceId}}/beat": {"put": _op("Heartbeat of a heartbeat instance", None, params=[_IID, _NS])},
}

_INSTANCE_FIELDS = {"ip": _STR, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "weight": {"type": "number", "minimum": 0, "maximum": 10000}, "healthy": {"type": "boolean"},
                    "enabled": {"type": "boolean"}, "ephemeral": {"type": "boolean"}, "cluster": _STR,
                    "metadata": {"type": "object", "additionalProperties": _STR}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": _STR, "message": _STR, "details": {"type": "object"}}},
    "NamingList": {"type": "object", "properties": {"items": {"type": "array", "items": _STR}}},
    "NamingServiceInput": {"type": "object", "properties": {
        "namespace": _STR, "group": _STR, "name": _STR, "protectThreshold": {"type": "number", "minimum": 0, "maximum": 1},
        "metadata": {"type": "object", "additionalProperties": _STR}}},
    "NamingService": {"type": "object", "properties": {
        "namespace": _STR, "group": _STR, "name": _STR, "protectThreshold": {"type": "number"},
        "metadata": {"type": "object"}, "clusters": {"type": "array", "items": _STR},
        "instanceCount": {"type": "integer"}, "healthyInstanceCount": {"type": "integer"}}},
    "NamingServicePage": {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref("NamingService")}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "size": {"type": "integer"}}},
    "NamingInstanceInput": {"type": "object", "required": ["ip", "port"], "properties": _INSTANCE_FIELDS},
    "NamingInstancePatch": {"type": "object", "additionalProperties": False, "properties": {
        k: _INSTANCE_FIELDS[k] for k in ("weight", "enabled", "healthy", "metadata")}},
    "NamingInstance": {"type": "object", "properties": {
        "instanceId": _STR, "ip": _STR, "port": {"type": "integer"}, "weight": {"type": "number"},
        "healthy": {"type": "boolean"}, "enabled": {"type": "boolean"}, "ephemeral": {"type": "boolean"},
        "clusterName": _STR, "serviceName": _STR, "groupName": _STR, "namespaceId": _STR,
        "metadata": {"type": "object"}, "source": {"type": "string", "enum": ["sdk", "heartbeat", "persistent"]},
        "registeredAt": {"type": "number"}}},
    "NamingInstanceList": {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref("NamingInstance")}, "reachProtectionThreshold": {"type": "boolean"}}},
}
