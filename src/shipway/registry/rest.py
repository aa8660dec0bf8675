"""Native REST API of the naming server under ``/api/v1/naming`` (reads: viewer, writes: developer).

::

    GET    /api/v1/naming/namespaces
    GET    /api/v1/naming/services?namespace=&group=&contains=&page=&size=
    POST   /api/v1/naming/services                       {namespace, group, name, protectThreshold, metadata}
    GET    /api/v1/naming/services/<name>?namespace=&group=
    PUT    /api/v1/naming/services/<name>?namespace=&group=  {protectThreshold, metadata}
    DELETE /api/v1/naming/services/<name>?namespace=&group=
    GET    /api/v1/naming/services/<name>/instances?namespace=&group=&cluster=&healthyOnly=
    POST   /api/v1/naming/services/<name>/instances?namespace=&group=
                                          {ip, port, cluster, weight, metadata, ephemeral, healthy, enabled}
    GET    /api/v1/naming/instances/<instanceId>?namespace=
    PATCH  /api/v1/naming/instances/<instanceId>?namespace=   {weight, enabled, healthy, metadata}
    DELETE /api/v1/naming/instances/<instanceId>?namespace=
    PUT    /api/v1/naming/instances/<instanceId>/beat?namespace=
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from shipway.core.errors import BadRequest, NotFound
from shipway.core.http import context, json_body, paging, requires
from shipway.registry import model
from shipway.registry.model import DEFAULT_CLUSTER, DEFAULT_GROUP, DEFAULT_NAMESPACE

bp = Blueprint("naming_api", __name__, url_prefix="/api/v1/naming")


def naming():
    return context().services["naming"]


def _scope() -> tuple[str, str]:
    ns = model.check_name(request.args.get("namespace") or DEFAULT_NAMESPACE, "namespace")
    group = model.check_name(request.args.get("group") or DEFAULT_GROUP, "group")
    return ns, group


def _iid(instance_id: str) -> tuple[str, str, str, str]:
    ns = model.check_name(request.args.get("namespace") or DEFAULT_NAMESPACE, "namespace")
    ip, port, cluster, group, service = model.parse_instance_id(instance_id)
    return ns, group, service, model.instance_id(ip, port, cluster, group, service)


@bp.get("/namespaces")
@requires("viewer")
def namespaces():
    return jsonify({"items": naming().namespaces()})


@bp.get("/services")
@requires("viewer")
def list_services():
    ns = model.check_name(request.args.get("namespace") or DEFAULT_NAMESPACE, "namespace")
    group = request.args.get("group") or None
    if group:
        model.check_name(group, "group")
    page, size = paging()
    total, items = naming().list_services(ns, group, page=page, size=size, contains=request.args.get("contains"))
    return jsonify({"items": items, "total": total, "page": page, "size": size})


@bp.post("/services")
@requires("developer")
def create_service():
    body = json_body()
    rec = naming().create_service(body.get("namespace") or DEFAULT_NAMESPACE, body.get("group") or DEFAULT_GROUP,
                                  body.get("name"), protect_threshold=body.get("protectThreshold", 0.0),
                                  metadata=body.get("metadata"))
    return jsonify(rec), 201


@bp.get("/services/<name>")
@requires("viewer")
def get_service(name: str):
    ns, group = _scope()
    return jsonify(naming().get_service(ns, group, model.check_name(name, "name")))


@bp.put("/services/<name>")
@requires("developer")
def update_service(name: str):
    ns, group = _scope()
    body = json_body()
    return jsonify(naming().update_service(ns, group, model.check_name(name, "name"),
                                           protect_threshold=body.get("protectThreshold"),
                                           metadata=body.get("metadata")))


@bp.delete("/services/<name>")
@requires("developer")
def delete_service(name: str):
    ns, group = _scope()
    naming().delete_service(ns, group, model.check_name(name, "name"))
    return "", 204


@bp.get("/services/<name>/instances")
@requires("viewer")
def list_instances(name: str):
    ns, group = _scope()
    healthy_only = model.parse_bool(request.args.get("healthyOnly"), "healthyOnly", default=False)
    cluster = request.args.get("cluster") or None
    if cluster:
        model.check_name(cluster, "cluster")
    hosts, reached = naming().query(ns, group, model.check_name(name, "name"), healthy_only=healthy_only,
                                    cluster=cluster, cached=True)
    return jsonify({"items": hosts, "reachProtectionThreshold": reached})


@bp.post("/services/<name>/instances")
@requires("developer")
def register_instance(name: str):
    ns, group = _scope()
    body = json_body()
    for field in ("ip", "port"):
        if body.get(field) in (None, ""):
            raise BadRequest(f"{field} is required", field=field)
    iid = naming().register_instance(
        model.check_name(name, "name"), body["ip"], body["port"], namespace=ns, group=group,
        cluster=body.get("cluster") or DEFAULT_CLUSTER, weight=body.get("weight", 1.0),
        metadata=body.get("metadata"), ephemeral=model.parse_bool(body.get("ephemeral"), "ephemeral", False),
        healthy=model.parse_bool(body.get("healthy"), "healthy", True),
        enabled=model.parse_bool(body.get("enabled"), "enabled", True))
    return jsonify(naming().get_instance(ns, group, name, iid)), 201


@bp.get("/instances/<instance_id>")
@requires("viewer")
def get_instance(instance_id: str):
    ns, group, service, iid = _iid(instance_id)
    return jsonify(naming().get_instance(ns, group, service, iid))


@bp.patch("/instances/<instance_id>")
@requires("developer")
def patch_instance(instance_id: str):
    ns, group, service, iid = _iid(instance_id)
    body = json_body()
    unknown = set(body) - {"weight", "enabled", "healthy", "metadata"}
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}; allowed: weight, enabled, healthy, metadata",
                         field=sorted(unknown)[0])
    enabled = model.parse_bool(body["enabled"], "enabled") if "enabled" in body else None
    healthy = model.parse_bool(body["healthy"], "healthy") if "healthy" in body else None
    return jsonify(naming().update_instance(ns, group, service, iid, weight=body.get("weight"), enabled=enabled,
                                            healthy=healthy, metadata=body.get("metadata")))


@bp.delete("/instances/<instance_id>")
@requires("developer")
def delete_instance(instance_id: str):
    ns, group, service, iid = _iid(instance_id)
    if not naming().remove_instance(ns, group, service, iid):
        raise NotFound(f"instance {iid} not found in namespace {ns}", details={"instanceId": iid})
    return "", 204


@bp.put("/instances/<instance_id>/beat")
@requires("developer")
def beat(instance_id: str):
    ns, group, service, iid = _iid(instance_id)
    ip, port, cluster, _, _ = model.parse_instance_id(iid)
    inst = naming().beat(ns, group, service, ip, port, cluster)
    if inst is None:
        raise NotFound(f"instance {iid} not found in namespace {ns}; register it again", details={"instanceId": iid})
    interval, _, _ = model.beat_timing(inst)
    return jsonify({"instanceId": iid, "healthy": inst.get("healthy"), "beatIntervalMs": int(interval * 1000)})
