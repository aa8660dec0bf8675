"""The Kubernetes REST API under ``/k8s`` (kubeconfig ``server: <shipway URL>/k8s``).

One catch-all route parses Kubernetes paths (``/api/v1/...``, ``/apis/apps/v1/...``)
and dispatches to list/watch/get/create/update/patch/delete and the
``status``, ``scale`` and ``log`` subresources. Errors are ``Status`` objects.
Reads need the ``viewer`` role (secrets: ``developer``), writes ``developer``.
"""

from __future__ import annotations

import json
import logging

import yaml
from flask import Blueprint, Response, request, stream_with_context

from shipway.core.errors import BadRequest, NotFound, ShipwayError
from shipway.core.http import context, public, require
from shipway.orchestrator import discovery, tables
from shipway.orchestrator.objects import BY_PLURAL, Kind, field_query_matches, label_query_matches, \
    parse_label_query, selector_matches
from shipway.orchestrator.store import Gone

log = logging.getLogger(__name__)
PREFIX = "/k8s"
bp = Blueprint("k8s_api", __name__, url_prefix=PREFIX)
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 410: "Expired", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
            422: "Invalid", 503: "ServiceUnavailable"}


def status_body(code: int, message: str, reason: str | None = None, details: dict | None = None) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason or _REASONS.get(code, "InternalError"), "details": details or {}, "code": code}


def _json(obj, code: int = 200) -> Response:
    return Response(json.dumps(obj, separators=(",", ":")), status=code, mimetype="application/json")


@bp.errorhandler(ShipwayError)
def _error(e: ShipwayError):
    details = {}
    reason = None
    if e.status == 422:
        details = {"name": getattr(e, "name", ""), "kind": getattr(e, "kind", ""),
                   "causes": [{"reason": x.get("reason", "FieldValueInvalid"), "message": x["message"],
                               "field": x.get("path", "")} for x in e.details.get("errors", [])]}
    elif e.status == 404:
        details = {k: v for k, v in e.details.items() if k in ("name", "kind")}
    elif e.code == "AlreadyExists":
        reason = "AlreadyExists"
    return _json(status_body(e.status, e.message, reason, details), e.status)


def svc():
    return context().services["orchestrator"]


# -- discovery -----------------------------------------------------------------------
@bp.get("/version")
@public
def version():
    return _json(discovery.version())


@bp.get("/kubeconfig-info")
@public
def kubeconfig_info():
    """Where kubectl reaches this API over TLS, and the CA to trust (public facts)."""
    tls = getattr(svc(), "tls", None)
    if tls is None or tls.port is None:
        raise NotFound("the TLS front of the Kubernetes API is not running (it starts with `shipway serve`)")
    return _json({"server": f"https://127.0.0.1:{tls.port}{PREFIX}", "certificateAuthorityData": tls.ca_data()})


@bp.get("/api")
def api():
    require("viewer")
    return _json(discovery.api_versions())


@bp.get("/apis")
def apis():
    require("viewer")
    return _json(discovery.api_groups())


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def dispatch(rest: str):
    parts = [p for p in rest.split("/") if p]
    if parts[:1] == ["openapi"]:
        require("viewer")
        from shipway.orchestrator import openapi
        doc = None
        if parts[1:2] == ["v3"]:
            doc = openapi.root(PREFIX) if len(parts) == 2 else openapi.group_version("/".join(parts[2:]))
        if doc is None:
            raise NotFound("the server could not find the requested resource (only a minimal /openapi/v3 is served)")
        return _json(doc)
    if parts[:1] == ["api"]:
        group, version, tail = "", (parts[1] if len(parts) > 1 else ""), parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 2:
        group, version, tail = parts[1], (parts[2] if len(parts) > 2 else ""), parts[3:]
        if not version:
            require("viewer")
            doc = discovery.api_group(group)
            if doc is None:
                raise NotFound(f"the server could not find the requested resource: {request.path}")
            return _json(doc)
    else:
        raise NotFound(f"the server could not find the requested resource: {request.path}")
    if not tail:
        require("viewer")
        doc = discovery.resource_list(group, version)
        if doc is None or request.method != "GET":
            raise NotFound(f"the server could not find the requested resource: {request.path}")
        return _json(doc)
    ns = None
    if tail[0] == "namespaces" and len(tail) >= 3 and (group, tail[2]) in BY_PLURAL:
        ns, tail = tail[1], tail[2:]
    kind = BY_PLURAL.get((group, tail[0]))
    if kind is None or version != kind.version:
        raise NotFound(f"the server could not find the requested resource: {request.path}")
    name = tail[1] if len(tail) > 1 else None
    sub = tail[2] if len(tail) > 2 else None
    if len(tail) > 3 or (sub and sub not in kind.subresources):
        raise NotFound(f"the server could not find the requested resource: {request.path}")
    require("developer" if request.method != "GET" or kind.kind == "Secret" else "viewer")
    return _handle(kind, ns, name, sub)


def _dry_run() -> bool:
    return request.args.get("dryRun") == "All"


def _body():
    raw = request.get_data()
    if not raw:
        raise BadRequest("the request needs a body")
    if "protobuf" in (request.mimetype or ""):
        from shipway.orchestrator import protobuf
        try:
            return protobuf.decode(raw)
        except (ValueError, IndexError, StopIteration) as e:
            raise BadRequest(f"the {request.mimetype} body cannot be used: {e}", status=415) from None
    try:
        if "yaml" in (request.mimetype or ""):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise BadRequest(f"the body cannot be decoded: {e}") from None


def _handle(kind: Kind, ns: str | None, name: str | None, sub: str | None):
    s, res, m = svc(), svc().resources, request.method
    if name is None:
        if m == "GET":
            if request.args.get("watch") in ("1", "true"):
                return _watch(kind, ns)
            return _list(kind, ns)
        if m == "POST":
            return _json(res.create(kind, ns, _body(), dry_run=_dry_run()), 201)
        raise BadRequest(f"{m} is not supported on a collection", status=405)
    if sub == "log":
        return _logs(s, ns, name)
    if sub == "scale":
        return _scale(kind, ns, name)
    if m == "GET":
        obj = res.get(kind, ns, name)
        if "as=Table" in request.headers.get("Accept", ""):
            return _json(tables.to_table(kind.kind, [obj], obj["metadata"]["resourceVersion"]))
        return _json(obj)
    if m == "PUT":
        return _json(res.update(kind, ns, name, _body(), subresource=sub, dry_run=_dry_run()))
    if m == "PATCH":
        body = _body()
        if request.mimetype.startswith("application/apply-patch") and isinstance(body, dict):
            body.setdefault("metadata", {}).setdefault("name", name)
        existed = s.store.find(kind.plural, ns if kind.namespaced else None, name) is not None
        out = res.patch(kind, ns, name, request.mimetype, body, subresource=sub,
                        field_manager=request.args.get("fieldManager", ""),
                        force=request.args.get("force") == "true", dry_run=_dry_run())
        return _json(out, 200 if existed else 201)
    if m == "DELETE":
        opts = json.loads(request.get_data() or b"{}") if request.get_data() else {}
        grace = opts.get("gracePeriodSeconds", request.args.get("gracePeriodSeconds"))
        obj = res.delete(kind, ns, name, grace=int(grace) if grace is not None else None, dry_run=_dry_run())
        return _json(obj)
    raise BadRequest(f"{m} is not supported here", status=405)


def _filtered(objs: list[dict]) -> list[dict]:
    try:
        reqs = parse_label_query(request.args.get("labelSelector"))
    except ValueError as e:
        raise BadRequest(f"invalid labelSelector: {e}") from None
    fq = request.args.get("fieldSelector")
    return [o for o in objs if label_query_matches(reqs, o["metadata"].get("labels"))
            and field_query_matches(fq, o)]


def _list(kind: Kind, ns: str | None):
    store = svc().store
    items = _filtered(svc().resources.list(kind, ns))
    rv = str(store.log.last_rv)
    if "as=Table" in request.headers.get("Accept", ""):
        return _json(tables.to_table(kind.kind, items, rv))
    return _json({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                  "metadata": {"resourceVersion": rv}, "items": items})


def _watch(kind: Kind, ns: str | None):
    store, res = svc().store, svc().resources
    rv_arg = request.args.get("resourceVersion") or "0"
    timeout = min(float(request.args.get("timeoutSeconds") or 1800), 1800)
    try:
        reqs = parse_label_query(request.args.get("labelSelector"))
    except ValueError as e:
        raise BadRequest(f"invalid labelSelector: {e}") from None
    fq = request.args.get("fieldSelector")

    def wanted(o):
        return ((ns is None or o["metadata"].get("namespace") == ns)
                and label_query_matches(reqs, o["metadata"].get("labels")) and field_query_matches(fq, o))

    initial = []
    if rv_arg == "0":
        initial = [o for o in res.list(kind, ns) if wanted(o)]
        start = store.log.last_rv
    else:
        start = int(rv_arg)

    as_table = "as=Table" in request.headers.get("Accept", "")

    def render(o):
        return tables.to_table(kind.kind, [o], o["metadata"].get("resourceVersion", "")) if as_table else o

    def stream():
        if not initial:
            # Send the response headers now, as the kube-apiserver does: a WSGI server sends them with the
            # first body chunk, and client-go's reflector cannot stop (kubectl rollout status hangs after
            # printing its answer) until its watch request has its headers. JSON stream decoders skip
            # the whitespace.
            yield "\n"
        for o in initial:
            yield json.dumps({"type": "ADDED", "object": render(o)}) + "\n"
        try:
            for _, etype, obj in store.log.since(start, kind.plural, timeout):
                if wanted(obj):
                    yield json.dumps({"type": etype, "object": render(obj)}) + "\n"
        except Gone as e:
            yield json.dumps({"type": "ERROR", "object": status_body(410, str(e))}) + "\n"

    return Response(stream_with_context(stream()), mimetype="application/json",
                    headers={"Cache-Control": "no-cache"})


def _scale(kind: Kind, ns: str | None, name: str):
    res = svc().resources
    if request.method in ("PUT", "PATCH"):
        body = _body()
        if request.method == "PUT":
            replicas = ((body or {}).get("spec") or {}).get("replicas")
        else:
            from shipway.orchestrator.patch import json_patch, merge_patch
            cur = _scale_obj(kind, res.get(kind, ns, name))
            patched = json_patch(cur, body) if request.mimetype.startswith("application/json-patch") \
                else merge_patch(cur, body)
            replicas = (patched.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            from shipway.orchestrator.resources import Invalid
            raise Invalid("Scale", name, [{"path": "spec.replicas", "reason": "FieldValueInvalid",
                                           "message": "Invalid value: must be a non-negative integer"}])
        res.patch(kind, ns, name, "application/merge-patch+json", {"spec": {"replicas": replicas}})
    return _json(_scale_obj(kind, res.get(kind, ns, name)))


def _scale_obj(kind: Kind, obj: dict) -> dict:
    m = obj["metadata"]
    sel = obj["spec"].get("selector") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": m["name"], "namespace": m.get("namespace"), "uid": m["uid"],
                         "resourceVersion": m["resourceVersion"], "creationTimestamp": m.get("creationTimestamp")},
            "spec": {"replicas": obj["spec"].get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items())}}


def _logs(service, ns: str, name: str):
    pod = service.resources.get(BY_PLURAL[("", "pods")], ns, name)
    container = request.args.get("container")
    names = [c["name"] for c in pod["spec"]["containers"]]
    if container and container not in names:
        raise BadRequest(f"container {container} is not valid for pod {name}")
    if not container and len(names) > 1:
        raise BadRequest(f"a container name must be specified for pod {name}, choose one of: {names}")
    tail = request.args.get("tailLines")
    chunks = service.pod_logs(pod, container or names[0], follow=request.args.get("follow") == "true",
                              tail=int(tail) if tail else None, previous=request.args.get("previous") == "true",
                              timestamps=request.args.get("timestamps") == "true")
    return Response(stream_with_context(chunks), mimetype="text/plain")


__all__ = ["bp", "selector_matches"]
