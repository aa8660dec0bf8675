"""The native REST API under ``/api/v1/configs`` (reads: viewer, writes: developer, audit: admin).

Errors use the house shape ``{"error", "message", "details"}`` (server/errors.py). Documented in
docs/api.md ("## Config") and in the OpenAPI document (:mod:`shipway.config_center.openapi_doc`).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from shipway.config_center.validate import DEFAULT_NAMESPACE
from shipway.core.errors import BadRequest
from shipway.core.http import client_ip, context, current_identity, json_body, paging, require, requires
from shipway.server.errors import jsonify_bytes
from shipway.server.fastlane import JSON, Answer, Call, Route, house_error

bp = Blueprint("config_api", __name__, url_prefix="/api/v1/configs")

KEY = "/<namespace>/<group>/<data_id>"
LABELS_HEADER = "X-Shipway-Labels"


def svc():
    return context().services["config"]


def hub():
    return context().services["config.hub"]


def require_write(namespace: str) -> None:
    """403 unless the caller holds the namespace's write role (``developer``, or ``admin`` where set)."""
    require(svc().write_role(namespace or DEFAULT_NAMESPACE))


def _who() -> dict:
    ident = current_identity()
    return {"author": ident.username if ident else "", "source_ip": client_ip()}


def parse_labels(raw: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` (the SDK's label header) → dict."""
    labels: dict[str, str] = {}
    for part in (raw or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            if k.strip():
                labels[k.strip()] = v.strip()
    return labels


def item_answer(item: dict, status: int = 200) -> Answer:
    """A config as JSON (as Flask's ``jsonify`` writes it), with its MD5, type and version also as headers."""
    headers = [(name, str(item[field])) for name, field in
               (("Content-MD5", "md5"), ("Config-Type", "type"), ("Config-Version", "version")) if field in item]
    return status, JSON, jsonify_bytes(item), headers


def _with_headers(item: dict, status: int = 200) -> Response:
    return _response(item_answer(item, status))


def _response(answer: Answer) -> Response:
    status, ctype, body, headers = answer  # type: ignore[misc]
    return Response(body, status=status, content_type=ctype, headers=headers)


def publish_answer(config_svc, namespace: str, group: str, data_id: str, body: dict, if_match: str | None, *,
                   author: str, source_ip: str) -> Answer:
    """``PUT /api/v1/configs/<namespace>/<group>/<dataId>`` with its JSON ``body``: the answer, 201 for a new
    config (one implementation for the Flask view and the fast lane)."""
    if "content" not in body:
        raise BadRequest("content is required", field="content")
    cas = body.get("casMd5", if_match)
    item = config_svc.publish(namespace, group, data_id, body["content"], body.get("type") or "text", cas_md5=cas,
                              desc=body.get("desc"), tags=body.get("tags"), author=author, source_ip=source_ip)
    return item_answer(item, 201 if item["op"] == "created" else 200)


def lane_routes(config_svc) -> list[Route]:
    """Publishing through the server's fast lane (:mod:`shipway.server.fastlane`): the same checks in the same
    order as the view below, the same answers."""
    def publish(call: Call) -> Answer:
        p = call.params
        return publish_answer(config_svc, p["namespace"], p["group"], p["data_id"], call.json or {},
                              call.header("If-Match"), author=call.identity.username, source_ip=call.remote_addr)

    def may_write(call: Call) -> bool:
        return call.identity.can(config_svc.write_role(call.params["namespace"] or DEFAULT_NAMESPACE))

    return [Route("PUT", f"{bp.url_prefix}{KEY}", f"{bp.name}.put_config", "developer", publish, house_error,
                  body="json", allowed=may_write)]


def _int_arg(name: str, default: int | None = None) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", field=name) from None


# -- list / search / namespaces / audit ------------------------------------------------
@bp.get("")
@requires("viewer")
def list_configs():
    page, size = paging()
    total, items = svc().list_configs(namespace=request.args.get("namespace"), group=request.args.get("group"),
                                      data_id=request.args.get("dataId"), tags=request.args.get("tags"),
                                      page=page, size=size)
    return jsonify({"items": items, "total": total, "page": page, "size": size})


@bp.get("/namespaces")
@requires("viewer")
def list_namespaces():
    return jsonify({"items": svc().namespaces()})


@bp.post("/namespaces")
@requires("developer")
def create_namespace():
    body = json_body()
    role = body.get("writeRole") or "developer"
    require(role if role in ("developer", "admin") else "developer")  # nobody grants more than they hold
    return jsonify(svc().create_namespace(body.get("namespace"), body.get("name", ""), body.get("desc", ""),
                                          role)), 201


@bp.put("/namespaces/<name>")
@requires("developer")
def update_namespace(name: str):
    body = json_body()
    require_write(name)
    if body.get("writeRole") in ("developer", "admin"):
        require(body["writeRole"])
    svc().update_namespace(name, body.get("name"), body.get("desc"), body.get("writeRole"))
    return jsonify({"namespace": name, "updated": True})


@bp.delete("/namespaces/<name>")
@requires("developer")
def delete_namespace(name: str):
    require_write(name)
    svc().delete_namespace(name)
    return jsonify({"namespace": name, "deleted": True})


@bp.get("/audit")
@requires("admin")
def audit():
    page, size = paging()
    total, items = svc().audit(namespace=request.args.get("namespace"), data_id=request.args.get("dataId"),
                               actor=request.args.get("actor"), page=page, size=size)
    return jsonify({"items": items, "total": total, "page": page, "size": size})


@bp.post("/watch")
@requires("viewer")
def watch():
    """Long poll for the SDK's HTTP mode: ``{"keys": [{namespace, group, dataId, md5}], "timeout": s}``."""
    body = json_body()
    keys = body.get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > 3000:
        raise BadRequest("keys must be a list of 1-3000 {namespace, group, dataId, md5} objects", field="keys")
    try:
        timeout = min(max(float(body.get("timeout", 30)), 0.0), 120.0)
    except (TypeError, ValueError):
        raise BadRequest("timeout must be a number of seconds", field="timeout") from None
    wanted = {}
    for i, k in enumerate(keys):
        if not isinstance(k, dict):
            raise BadRequest("each key must be an object", field=f"keys[{i}]")
        key = svc().key(k.get("namespace") or DEFAULT_NAMESPACE, k.get("group"), k.get("dataId"))
        wanted[key] = str(k.get("md5") or "")
    changed = hub().poll(wanted, ip=client_ip(), labels=parse_labels(request.headers.get(LABELS_HEADER)),
                         timeout=timeout)
    return jsonify({"changed": [{"namespace": n, "group": g, "dataId": d} for n, g, d in changed]})


# -- one config ---------------------------------------------------------------------
@bp.get(KEY)
@requires("viewer")
def get_config(namespace: str, group: str, data_id: str):
    """The value this client sees (a matching beta included, flagged ``beta: true``)."""
    item = svc().get_for_client(namespace, group, data_id, ip=client_ip(),
                                labels=parse_labels(request.headers.get(LABELS_HEADER)))
    if request.args.get("raw") in ("1", "true"):
        resp = Response(item["content"], mimetype="text/plain")
        resp.headers.update({"Content-MD5": item["md5"], "Config-Type": item["type"],
                             "Config-Version": str(item["version"])})
        return resp
    return _with_headers(item)


@bp.put(KEY)
@requires("developer")
def put_config(namespace: str, group: str, data_id: str):
    require_write(namespace)
    return _response(publish_answer(svc(), namespace, group, data_id, json_body(), request.headers.get("If-Match"),
                                    **_who()))


@bp.delete(KEY)
@requires("developer")
def delete_config(namespace: str, group: str, data_id: str):
    require_write(namespace)
    return jsonify(svc().delete(namespace, group, data_id, cas_md5=request.args.get("casMd5"), **_who()))


@bp.get(KEY + "/history")
@requires("viewer")
def history(namespace: str, group: str, data_id: str):
    page, size = paging()
    total, items = svc().history(namespace, group, data_id, page=page, size=size)
    return jsonify({"items": items, "total": total, "page": page, "size": size})


@bp.get(KEY + "/history/<int:version>")
@requires("viewer")
def history_version(namespace: str, group: str, data_id: str, version: int):
    return jsonify(svc().version(namespace, group, data_id, version))


@bp.get(KEY + "/diff")
@requires("viewer")
def diff(namespace: str, group: str, data_id: str):
    from_v = _int_arg("from")
    if from_v is None:
        raise BadRequest("from is required", field="from")
    return jsonify(svc().diff(namespace, group, data_id, from_v, _int_arg("to")))


@bp.post(KEY + "/rollback")
@requires("developer")
def rollback(namespace: str, group: str, data_id: str):
    require_write(namespace)
    body = json_body()
    if "version" not in body:
        raise BadRequest("version is required", field="version")
    return _with_headers(svc().rollback(namespace, group, data_id, body["version"], **_who()))


# -- gray release ---------------------------------------------------------------------
@bp.get(KEY + "/beta")
@requires("viewer")
def beta_get(namespace: str, group: str, data_id: str):
    return jsonify(svc().beta_get(namespace, group, data_id))


@bp.put(KEY + "/beta")
@requires("developer")
def beta_put(namespace: str, group: str, data_id: str):
    require_write(namespace)
    body = json_body()
    if "content" not in body:
        raise BadRequest("content is required", field="content")
    return jsonify(svc().beta_publish(namespace, group, data_id, body["content"], ips=body.get("ips"),
                                      labels=body.get("labels"), **_who()))


@bp.post(KEY + "/beta/promote")
@requires("developer")
def beta_promote(namespace: str, group: str, data_id: str):
    require_write(namespace)
    return _with_headers(svc().beta_promote(namespace, group, data_id, **_who()))


@bp.delete(KEY + "/beta")
@requires("developer")
def beta_stop(namespace: str, group: str, data_id: str):
    require_write(namespace)
    svc().beta_stop(namespace, group, data_id, **_who())
    return jsonify({"stopped": True})
