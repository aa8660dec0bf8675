"""Accounts API: who am I, users (admin), API tokens (own; admin sees all)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify

from shipway.core.errors import BadRequest, Forbidden
from shipway.core.http import context, json_body, require, requires

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")


@bp.get("/whoami")
@requires("viewer")
def whoami():
    ident = require("viewer")
    return jsonify({"username": ident.username, "role": ident.role, "via": ident.via})


@bp.get("/users")
@requires("admin")
def list_users():
    return jsonify({"items": context().users.list()})


@bp.post("/users")
@requires("admin")
def add_user():
    body = json_body()
    for key in ("username", "password", "role"):
        if not isinstance(body.get(key), str):
            raise BadRequest(f"'{key}' is required and must be a string", field=key)
    user = context().users.add(body["username"], body["password"], body["role"])
    return jsonify(user), 201


@bp.patch("/users/<username>")
@requires("admin")
def change_user(username: str):
    body = json_body()
    users = context().users
    if "role" in body:
        users.set_role(username, str(body["role"]))
    if "password" in body:
        users.set_password(username, str(body["password"]))
    return jsonify({"username": username})


@bp.delete("/users/<username>")
@requires("admin")
def remove_user(username: str):
    if username == require("admin").username:
        raise BadRequest("you cannot remove yourself", field="username")
    context().users.remove(username)
    return "", 204


@bp.get("/tokens")
@requires("viewer")
def list_tokens():
    ident = require("viewer")
    owner = None if ident.can("admin") else ident.username
    return jsonify({"items": context().users.list_tokens(owner)})


@bp.post("/tokens")
@requires("viewer")
def create_token():
    ident = require("viewer")
    body = json_body(required=False)
    name = str(body.get("name") or "api")
    owner = str(body.get("username") or ident.username)
    if owner != ident.username and not ident.can("admin"):
        raise Forbidden("only admins create tokens for other users")
    ttl = body.get("ttl_seconds")
    if ttl is not None and (not isinstance(ttl, int) or ttl <= 0):
        raise BadRequest("ttl_seconds must be a positive integer", field="ttl_seconds")
    token = context().users.create_token(owner, name, dt.timedelta(seconds=ttl) if ttl else None)
    return jsonify(token), 201


@bp.delete("/tokens/<int:token_id>")
@requires("viewer")
def revoke_token(token_id: int):
    ident = require("viewer")
    context().users.revoke_token(token_id, None if ident.can("admin") else ident.username)
    return "", 204
