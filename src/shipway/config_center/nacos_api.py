"""The Nacos Open API v1 config endpoints, as Nacos clients send them (query or form parameters).

Bodies and statuses follow Nacos 1.x/2.x: ``GET configs`` answers the raw content (``Content-MD5``,
``Config-Type`` headers) or 404 ``config data not exist``; ``POST``/``DELETE`` answer ``true``; a failed
``casMd5`` is 409; the listener answers the url-encoded changed keys or an empty 200 on timeout. Other
errors are plain text with Nacos's status (400 for bad parameters). ``tenant`` '' is the ``public``
namespace. Reads need the viewer role, writes developer (``accessToken`` from ``POST /nacos/v1/auth/login``).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from shipway.config_center.longpoll import HeldAnswer, format_changed, parse_listening_configs
from shipway.config_center.validate import DEFAULT_GROUP, DEFAULT_NAMESPACE
from shipway.core.errors import BadRequest, Forbidden, NotFound, ShipwayError
from shipway.core.http import client_ip, context, csrf_exempt, current_identity, public, require, requires

bp = Blueprint("nacos_config", __name__, url_prefix="/nacos/v1/cs")
auth_bp = Blueprint("nacos_auth", __name__, url_prefix="/nacos/v1/auth")

TOKEN_TTL = dt.timedelta(hours=5)  # Nacos's default token.expire.seconds = 18000
DELAY = 0.5  # Nacos answers a long poll 500 ms before the client's timeout
OP_TYPES = {"created": "I  ", "updated": "U  ", "deleted": "D  "}


def _error(e: ShipwayError):
    return Response(e.message, status=e.status, mimetype="text/plain")


bp.register_error_handler(ShipwayError, _error)
auth_bp.register_error_handler(ShipwayError, _error)


def svc():
    return context().services["config"]


def _param(name: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = request.values.get(name)
    if value in (None, ""):
        if required:
            raise BadRequest(f"Required parameter '{name}' is not present", field=name)
        return default
    return value


def _key() -> tuple[str, str, str]:
    tenant = _param("tenant", default="") or DEFAULT_NAMESPACE
    return svc().key(tenant, _param("group", default=DEFAULT_GROUP), _param("dataId", required=True))


def _who() -> dict:
    ident = current_identity()
    return {"author": ident.username if ident else "", "source_ip": client_ip()}


def _true() -> Response:
    return Response("true", mimetype="application/json")


def _is_true(name: str) -> bool:
    return (_param(name) or "").lower() == "true"


# -- configs -------------------------------------------------------------------------------
@bp.get("/configs")
@requires("viewer")
def get_config():
    if _param("search") in ("accurate", "blur"):
        return _search()
    key = _key()
    if _is_true("beta"):
        try:
            beta = svc().beta_get(*key)
        except NotFound:
            return jsonify({"code": 200, "message": "query beta successfully", "data": None})
        return jsonify({"code": 200, "message": "query beta successfully",
                        "data": {"dataId": key[2], "group": key[1], "tenant": _tenant(key[0]),
                                 "content": beta["content"], "md5": beta["md5"], "betaIps": ",".join(beta["ips"]),
                                 "type": beta["type"]}})
    try:
        item = svc().get_for_client(*key, ip=client_ip())
    except NotFound:
        return Response("config data not exist\n", status=404, mimetype="text/plain")
    if _param("show") == "all":
        return jsonify(_all_info(item))
    resp = Response(item["content"], mimetype="text/plain")
    resp.headers.update({"Content-MD5": item["md5"], "Config-Type": item["type"], "Pragma": "no-cache",
                         "Cache-Control": "no-cache,no-store"})
    if item.get("beta"):
        resp.headers["isBeta"] = "true"
    return resp


def _tenant(ns: str) -> str:
    return "" if ns == DEFAULT_NAMESPACE else ns


def _all_info(item: dict) -> dict:
    return {"id": str(item["version"]), "dataId": item["dataId"], "group": item["group"],
            "tenant": _tenant(item["namespace"]), "content": item["content"], "md5": item["md5"],
            "type": item["type"], "desc": item.get("desc", ""), "configTags": ",".join(item.get("tags", [])),
            "createUser": item.get("author", ""), "modifyTime": item.get("time")}


def _search():
    try:
        page, size = int(_param("pageNo", default="1")), int(_param("pageSize", default="100"))
    except ValueError:
        raise BadRequest("pageNo and pageSize must be integers", field="pageNo") from None
    page, size = max(page, 1), min(max(size, 1), 500)
    blur = _param("search") == "blur"
    data_id, group = _param("dataId", default=""), _param("group", default="")
    if blur:
        data_id = f"*{data_id}*" if data_id and "*" not in data_id else data_id
        group = f"*{group}*" if group and "*" not in group else group
    total, items = svc().list_configs(namespace=_param("tenant", default="") or DEFAULT_NAMESPACE,
                                      group=group or None, data_id=data_id or None, tags=_param("config_tags"),
                                      page=page, size=size)
    rows = [{"id": str(i["version"]), "dataId": i["dataId"], "group": i["group"],
             "tenant": _tenant(i["namespace"]), "md5": i["md5"], "type": i["type"]} for i in items]
    if not blur:
        for row in rows:
            row["content"] = svc().get(row["tenant"] or DEFAULT_NAMESPACE, row["group"], row["dataId"])["content"]
    return jsonify({"totalCount": total, "pageNumber": page, "pagesAvailable": -(-total // size),
                    "pageItems": rows})


@bp.post("/configs")
@requires("developer")
def publish():
    key = _key()
    require(svc().write_role(key[0]))
    content = request.values.get("content")
    if content is None or content == "":
        raise BadRequest("Required parameter 'content' is not present", field="content")
    beta_ips = request.headers.get("betaIps") or _param("betaIps")
    if beta_ips:
        svc().beta_publish(*key, content, ips=beta_ips, **_who())
        return _true()
    cas = request.headers.get("casMd5") or _param("casMd5")
    svc().publish(*key, content, _param("type", default="text"), cas_md5=cas, desc=_param("desc"),
                  tags=_param("config_tags"), **_who())
    return _true()


@bp.delete("/configs")
@requires("developer")
def delete():
    key = _key()
    require(svc().write_role(key[0]))
    try:
        if _is_true("beta"):
            svc().beta_stop(*key, **_who())
        else:
            svc().delete(*key, **_who())
    except NotFound:
        pass  # Nacos answers true for a config that is already gone
    return _true()


# -- long polling ----------------------------------------------------------------------------
@bp.post("/configs/listener")
@requires("viewer")
@csrf_exempt
def listener():
    keys = parse_listening_configs(request.values.get("Listening-Configs", ""))
    wanted = {}
    by_key = {}
    for k in keys:
        key = svc().key(k.tenant or DEFAULT_NAMESPACE, k.group, k.data_id)
        wanted[key] = k.md5
        by_key[key] = k
    hub = context().services["config.hub"]
    header = request.headers.get("Long-Pulling-Timeout")
    if header is None:
        return _listener_answer(hub.changed_now(wanted, client_ip()), by_key)
    try:
        timeout = max(int(header) / 1000.0 - DELAY, 0.0)
    except ValueError:
        raise BadRequest("Long-Pulling-Timeout must be milliseconds", field="Long-Pulling-Timeout") from None
    no_hangup = request.headers.get("Long-Pulling-Timeout-No-Hangup") or request.headers.get("Long-Pulling-No-Hangup")
    hold = hub.hold(wanted, ip=client_ip())
    if hold.changed or (no_hangup or "").lower() == "true" or timeout <= 0:
        hold.release()
        return _listener_answer(hold.changed, by_key)
    # Held: answered by iterating the body (see HeldAnswer), after Flask's processing has run.
    resp = Response(HeldAnswer(hold, min(timeout, 120.0), lambda changed: _listener_body(changed, by_key)),
                    mimetype="text/html", direct_passthrough=True)
    resp.headers.update(NO_CACHE)
    return resp


NO_CACHE = {"Pragma": "no-cache", "Cache-Control": "no-cache,no-store"}


def _listener_body(changed, by_key) -> bytes:
    return (format_changed([by_key[k] for k in changed]) + ("\n" if changed else "")).encode()


def _listener_answer(changed, by_key) -> Response:
    resp = Response(_listener_body(changed, by_key), mimetype="text/html")
    resp.headers.update(NO_CACHE)
    return resp


# -- history --------------------------------------------------------------------------------
def _history_item(h: dict, tenant: str) -> dict:
    return {"id": str(h["id"]), "lastId": -1, "dataId": h["dataId"], "group": h["group"], "tenant": tenant,
            "appName": "", "md5": h["md5"], "content": h.get("content"), "srcIp": h["sourceIp"],
            "srcUser": h["author"], "opType": OP_TYPES.get(h["op"], "U  "), "createdTime": h["time"],
            "lastModifiedTime": h["time"], "version": h["version"]}


def _check_same(h: dict, key) -> None:
    if (h["namespace"], h["group"], h["dataId"]) != key:
        raise NotFound("history entry does not belong to this config")


@bp.get("/history")
@requires("viewer")
def history():
    nid = _param("nid")
    if nid is not None:
        h = svc().history_by_id(_int(nid, "nid"))
        if _param("dataId"):
            _check_same(h, _key())
        return jsonify(_history_item(h, _tenant(h["namespace"])))
    key = _key()
    page, size = _int(_param("pageNo", default="1"), "pageNo"), _int(_param("pageSize", default="100"), "pageSize")
    page, size = max(page, 1), min(max(size, 1), 500)
    total, items = svc().history(*key, page=page, size=size)
    return jsonify({"totalCount": total, "pageNumber": page, "pagesAvailable": -(-total // size),
                    "pageItems": [_history_item(h, _tenant(key[0])) for h in items]})


@bp.get("/history/previous")
@requires("viewer")
def history_previous():
    h = svc().previous(_int(_param("id", required=True), "id"))
    if _param("dataId"):
        _check_same(h, _key())
    return jsonify(_history_item(h, _tenant(h["namespace"])))


def _int(value: str | None, name: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise BadRequest(f"{name} must be an integer", field=name) from None


# -- login ------------------------------------------------------------------------------------
@auth_bp.post("/login")
@auth_bp.post("/users/login")
@public
@csrf_exempt
def login():
    username, password = request.values.get("username", ""), request.values.get("password", "")
    ctx = context()
    ident = ctx.users.authenticate(username, password) if username and password else None
    if ident is None:
        raise Forbidden("unknown user!")
    token = ctx.users.create_token(ident.username, "nacos-login", ttl=TOKEN_TTL)
    return jsonify({"accessToken": token["token"], "tokenTtl": int(TOKEN_TTL.total_seconds()),
                    "globalAdmin": ident.role == "admin", "username": ident.username})
