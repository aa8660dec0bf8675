"""The Nacos Open API v1 naming endpoints, as Nacos clients send them (query/form parameters).

Answers follow Nacos 1.x/2.x: ``ok`` as plain text for writes, JSON for reads, errors as plain text
``caused: <message>;`` with Nacos's status (400 for bad/duplicate/missing, 404 for unknown on reads).
Service names may arrive as ``group@@service``. Reads need the viewer role, writes developer
(``accessToken`` from ``POST /nacos/v1/auth/login`` works as a query parameter).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Mapping

from flask import Blueprint, Response, g, jsonify, request

from shipway.core.errors import BadRequest, Conflict, NotFound, ShipwayError
from shipway.core.http import context, requires
from shipway.registry import model
from shipway.registry.model import DEFAULT_CLUSTER, DEFAULT_NAMESPACE
from shipway.server.fastlane import TEXT, Answer, Route, json_answer

bp = Blueprint("nacos_naming", __name__, url_prefix="/nacos/v1/ns")

OK = "ok"
_OK: Answer = (200, TEXT, OK.encode())
CODE_OK = 10200
CODE_NOT_FOUND = 20404


def error_answer(e: ShipwayError) -> Answer:
    """Nacos's answer to an error: ``caused: <message>;`` as text, 400 for a conflict (Nacos has no 409 here)."""
    return (400 if isinstance(e, Conflict) else e.status), TEXT, f"caused: {e.message};".encode()


@bp.errorhandler(ShipwayError)
def _error(e: ShipwayError):
    return _response(error_answer(e))


def _response(answer: Answer) -> Response:
    status, ctype, body = answer
    return Response(body, status=status, content_type=ctype)


def naming():
    return context().services["naming"]


def _values() -> dict:
    """Query and form parameters of this request, the query's first (read once: a request asks for ~10)."""
    values = g.get("nacos_values")
    if values is None:
        values = g.nacos_values = {**request.form.to_dict(), **request.args.to_dict()}
    return values


def _param(values: Mapping[str, str], name: str, *alts: str, required: bool = False, default=None):
    for key in (name, *alts):
        value = values.get(key)
        if value not in (None, ""):
            return value
    if required:
        raise BadRequest(f"Param '{name}' is required.", field=name)
    return default


def _namespace(v: Mapping[str, str]) -> str:
    return model.check_name(_param(v, "namespaceId", default=DEFAULT_NAMESPACE), "namespaceId")


def _service(v: Mapping[str, str]) -> tuple[str, str, str]:
    ns = _namespace(v)
    group, svc = model.split_service(_param(v, "serviceName", required=True), _param(v, "groupName"))
    return ns, group, svc


def _cluster(v: Mapping[str, str]) -> str:
    return model.check_name(_param(v, "clusterName", "cluster", default=DEFAULT_CLUSTER), "clusterName")


def _host(inst: dict, healthy: bool | None = None) -> dict:
    interval, timeout, delete = model.beat_timing(inst)
    ok = inst["healthy"] if healthy is None else healthy
    return {"instanceId": inst["instanceId"], "ip": inst["ip"], "port": inst["port"], "weight": inst["weight"],
            "healthy": ok, "valid": ok, "marked": False, "enabled": inst["enabled"], "ephemeral": inst["ephemeral"],
            "clusterName": inst["clusterName"], "serviceName": f"{inst['groupName']}@@{inst['serviceName']}",
            "metadata": inst.get("metadata") or {}, "instanceHeartBeatInterval": int(interval * 1000),
            "instanceIdGenerator": "simple", "instanceHeartBeatTimeOut": int(timeout * 1000),
            "ipDeleteTimeout": int(delete * 1000)}


# -- instances -------------------------------------------------------------------
def register_instance(naming_svc, v: Mapping[str, str]) -> Answer:
    """``POST /instance`` on the request's values ``v``: Nacos's answer (the Flask view and the fast lane)."""
    ns, group, svc = _service(v)
    naming_svc.register_instance(
        svc, _param(v, "ip", required=True), _param(v, "port", required=True), namespace=ns, group=group,
        cluster=_cluster(v), weight=_param(v, "weight", default=1.0), metadata=_param(v, "metadata"),
        ephemeral=model.parse_bool(_param(v, "ephemeral"), "ephemeral", True),
        healthy=model.parse_bool(_param(v, "healthy"), "healthy", True),
        enabled=model.parse_bool(_param(v, "enabled", "enable"), "enabled", True))
    return _OK


def deregister_instance(naming_svc, v: Mapping[str, str]) -> Answer:
    """``DELETE /instance`` on the request's values ``v``."""
    ns, group, svc = _service(v)
    naming_svc.deregister_instance(svc, _param(v, "ip", required=True), _param(v, "port", required=True),
                                   namespace=ns, group=group, cluster=_cluster(v))
    return _OK


@bp.post("/instance")
@requires("developer")
def register():
    return _response(register_instance(naming(), _values()))


@bp.delete("/instance")
@requires("developer")
def deregister():
    return _response(deregister_instance(naming(), _values()))


@bp.put("/instance")
@requires("developer")
def update():
    v = _values()
    ns, group, svc = _service(v)
    ip, port = model.check_ip(_param(v, "ip", required=True)), model.check_port(_param(v, "port", required=True))
    iid = model.instance_id(ip, port, _cluster(v), group, svc)
    enabled = _param(v, "enabled", "enable")
    try:
        naming().update_instance(ns, group, svc, iid, weight=_param(v, "weight"),
                                 enabled=None if enabled is None else model.parse_bool(enabled, "enabled"),
                                 metadata=model.check_metadata(_param(v, "metadata")) if _param(v, "metadata") else None)
    except NotFound:
        raise BadRequest(f"instance not exist: {iid}", field="ip") from None
    return Response(OK, mimetype="text/plain")


@bp.get("/instance")
@requires("viewer")
def detail():
    v = _values()
    ns, group, svc = _service(v)
    ip, port = model.check_ip(_param(v, "ip", required=True)), model.check_port(_param(v, "port", required=True))
    iid = model.instance_id(ip, port, _cluster(v), group, svc)
    try:
        naming().service_record(ns, group, svc)
    except NotFound:
        raise NotFound(f"no service {group}@@{svc} found!") from None
    try:
        inst = naming().get_instance(ns, group, svc, iid)
    except NotFound:
        raise NotFound("no matched ip found!") from None
    return jsonify({"service": f"{group}@@{svc}", "ip": inst["ip"], "port": inst["port"],
                    "clusterName": inst["clusterName"], "weight": inst["weight"], "healthy": inst["healthy"],
                    "instanceId": inst["instanceId"], "metadata": inst.get("metadata") or {}})


@bp.get("/instance/list")
@requires("viewer")
def instance_list():
    v = _values()
    ns, group, svc = _service(v)
    healthy_only = model.parse_bool(_param(v, "healthyOnly"), "healthyOnly", False)
    clusters = [c for c in (_param(v, "clusters", default="") or "").split(",") if c]
    all_insts, rec = naming().cached(ns, group, svc)
    insts = [i for i in all_insts if i.get("enabled", True) and (not clusters or i.get("clusterName") in clusters)]
    threshold = float((rec or {}).get("protectThreshold") or 0.0)
    healthy = [i for i in insts if i.get("healthy")]
    # Nacos's rule, whatever healthyOnly says: at the threshold every instance is served, reported
    # healthy (so clients that filter on `healthy` keep them too). shipway needs threshold > 0 to opt in.
    reached = bool(insts) and threshold > 0 and len(healthy) / len(insts) <= threshold
    if reached:
        body = [_host(i, healthy=True) for i in insts]
    else:
        body = [_host(i) for i in (healthy if healthy_only else insts)]
    checksum = hashlib.md5(json.dumps(body, sort_keys=True).encode()).hexdigest()  # noqa: S324 - not security
    return jsonify({"name": f"{group}@@{svc}", "dom": f"{group}@@{svc}", "groupName": group, "clusters": ",".join(clusters),
                    "cacheMillis": 10000, "hosts": body, "lastRefTime": int(time.time() * 1000),
                    "checksum": checksum, "allIPs": False, "reachProtectionThreshold": reached, "valid": True})


def beat_instance(naming_svc, v: Mapping[str, str]) -> Answer:
    """``PUT /instance/beat`` on the request's values ``v``: a heartbeat (registers the instance when the
    ``beat`` JSON describes it; ``code`` 20404 for an unknown instance without one)."""
    ns = _namespace(v)
    raw = _param(v, "beat")
    body = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest("beat is not valid JSON", field="beat") from None
        if not isinstance(body, dict):
            raise BadRequest("beat must be a JSON object", field="beat")
    src = body or {}
    group, svc = model.split_service(_param(v, "serviceName", default=src.get("serviceName")), _param(v, "groupName"))
    ip = model.check_ip(src.get("ip") or _param(v, "ip", required=True))
    port = model.check_port(src.get("port") or _param(v, "port", required=True))
    cluster = model.check_name(src.get("cluster") or _param(v, "clusterName", "cluster", default=DEFAULT_CLUSTER),
                               "clusterName")
    inst = naming_svc.beat(ns, group, svc, ip, port, cluster, body)
    if inst is None:
        return json_answer({"clientBeatInterval": model.DEFAULT_BEAT_INTERVAL_MS, "code": CODE_NOT_FOUND})
    interval, _, _ = model.beat_timing(inst)
    return json_answer({"clientBeatInterval": int(interval * 1000), "code": CODE_OK, "lightBeatEnabled": True})


@bp.put("/instance/beat")
@requires("developer")
def beat():
    return _response(beat_instance(naming(), _values()))


def lane_routes(naming_svc) -> list[Route]:
    """The calls Nacos clients make at machine rates, for the server's fast lane (:mod:`shipway.server.fastlane`)."""
    def route(method: str, path: str, endpoint: str, call) -> Route:
        return Route(method, f"{bp.url_prefix}{path}", f"{bp.name}.{endpoint}", "developer",
                     lambda c: call(naming_svc, c.values), error_answer)
    return [route("POST", "/instance", "register", register_instance),
            route("DELETE", "/instance", "deregister", deregister_instance),
            route("PUT", "/instance/beat", "beat", beat_instance)]


# -- services --------------------------------------------------------------------
@bp.post("/service")
@requires("developer")
def create_service():
    v = _values()
    ns, group, svc = _service(v)
    try:
        naming().create_service(ns, group, svc, protect_threshold=_param(v, "protectThreshold", default=0.0),
                                metadata=_param(v, "metadata"))
    except Conflict:
        raise BadRequest(f"specified service already exists, serviceName : {group}@@{svc}") from None
    return Response(OK, mimetype="text/plain")


@bp.delete("/service")
@requires("developer")
def delete_service():
    v = _values()
    ns, group, svc = _service(v)
    try:
        naming().delete_service(ns, group, svc)
    except NotFound:
        raise BadRequest(f"specified service not exist, serviceName : {group}@@{svc}") from None
    except Conflict:
        raise BadRequest(f"specified service has instances, serviceName : {group}@@{svc}") from None
    return Response(OK, mimetype="text/plain")


@bp.put("/service")
@requires("developer")
def update_service():
    v = _values()
    ns, group, svc = _service(v)
    try:
        naming().update_service(ns, group, svc, protect_threshold=_param(v, "protectThreshold"),
                                metadata=_param(v, "metadata"))
    except NotFound:
        raise BadRequest(f"service {group}@@{svc} not found!") from None
    return Response(OK, mimetype="text/plain")


@bp.get("/service")
@requires("viewer")
def get_service():
    v = _values()
    ns, group, svc = _service(v)
    try:
        rec = naming().get_service(ns, group, svc)
    except NotFound:
        raise NotFound(f"service {group}@@{svc} is not found!") from None
    return jsonify({"namespaceId": ns, "groupName": group, "name": svc,
                    "protectThreshold": rec["protectThreshold"], "metadata": rec["metadata"],
                    "selector": {"type": "none"},
                    "clusters": [{"name": c, "healthChecker": {"type": "TCP"}, "metadata": {}}
                                 for c in rec["clusters"]]})


@bp.get("/service/list")
@requires("viewer")
def service_list():
    v = _values()
    ns = _namespace(v)
    try:
        page = int(_param(v, "pageNo", default=1))
        size = int(_param(v, "pageSize", default=20))
    except ValueError:
        raise BadRequest("pageNo and pageSize must be integers", field="pageNo") from None
    if page < 1 or not 1 <= size <= 10000:
        raise BadRequest("pageNo must be ≥ 1 and pageSize between 1 and 10000", field="pageSize")
    group = model.check_name(_param(v, "groupName", default=model.DEFAULT_GROUP), "groupName")
    total, items = naming().list_services(ns, group, page=page, size=size)
    return jsonify({"count": total, "doms": [i["name"] for i in items]})
