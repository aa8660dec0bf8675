"""The Flask application factory.

:func:`create_app` builds one app for a :class:`~shipway.core.context.Context`:
security (identity, CSRF), request ids and metrics, the one error mapping,
the operations endpoints, accounts, and then every part listed in
:data:`PARTS`. A part module exposes ``register(app, ctx)`` which adds its
blueprints, components and health checks.
"""

from __future__ import annotations

import importlib
import logging

from flask import Flask

from shipway.core.context import Context

log = logging.getLogger(__name__)

#: Part modules with a ``register(app, ctx)`` function, in registration order.
PARTS: list[str] = [
    "shipway.web.views",
    "shipway.config_center.api",
    "shipway.registry.api",
    "shipway.orchestrator.api",
    "shipway.pipelines.api",
    "shipway.webhook.api",
]


def create_app(ctx: Context, *, parts: list[str] | None = None) -> Flask:
    """Build the Flask app serving every part for ``ctx``."""
    from shipway.server import accounts, errors, ops, security
    from shipway.server.fastlane import FastLane

    app = Flask("shipway", template_folder=None, static_folder=None)
    app.config.update(
        SECRET_KEY=ctx.settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="shipway_session",
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in security.py only where it applies
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    app.extensions["shipway"] = ctx
    # Parts add the hot calls they answer without Flask (see server/fastlane.py); the rest reaches Flask.
    app.extensions["fastlane"] = lane = FastLane(app.wsgi_app, ctx.users)
    app.wsgi_app = lane
    ops.init_app(app)  # first: the request id must exist before anything can fail
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(accounts.bp)
    for name in parts if parts is not None else PARTS:
        importlib.import_module(name).register(app, ctx)
    return app
