"""The OpenAPI document of the native REST API, served at ``/api/v1/openapi.json``.

Parts add their paths with :func:`add_paths` (from their ``register()``); the document is assembled
on each request from what was added, so registration order does not matter. Any part may register
the route with :func:`init_app` (it is registered once per app).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from flask import Blueprint, Flask, jsonify

from shipway.core.http import public

_lock = threading.Lock()
_paths: dict[str, dict[str, Any]] = {}
_schemas: dict[str, Any] = {}

bp = Blueprint("openapi", __name__)


def add_paths(paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None) -> None:
    """Merge OpenAPI ``paths`` (and ``components.schemas``) into the served document (idempotent)."""
    with _lock:
        for path, ops in paths.items():
            _paths.setdefault(path, {}).update(copy.deepcopy(ops))
        _schemas.update(copy.deepcopy(schemas or {}))


def document() -> dict[str, Any]:
    """The assembled OpenAPI 3.0 document."""
    with _lock:
        return {
            "openapi": "3.0.3",
            "info": {"title": "shipway API", "version": "v1",
                     "description": "shipway's native REST API (see docs/api.md)."},
            "servers": [{"url": "/"}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                           "schemas": copy.deepcopy(_schemas)},
            "security": [{"bearer": []}],
            "paths": {p: copy.deepcopy(_paths[p]) for p in sorted(_paths)},
        }


@bp.get("/api/v1/openapi.json")
@public
def openapi_json():
    return jsonify(document())


def init_app(app: Flask) -> None:
    """Register the route once per app."""
    if "openapi" not in app.blueprints:
        app.register_blueprint(bp)
