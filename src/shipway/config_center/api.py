"""HTTP face of the config center: ``register(app, ctx)`` adds its service, APIs, page and reconciler."""

from __future__ import annotations


def register(app, ctx) -> None:
    """Add the config center.

    * ``ctx.services["config"]`` — :class:`~shipway.config_center.service.ConfigService`;
      ``ctx.services["config.hub"]`` — the long-poll fan-out;
    * the native REST API (``/api/v1/configs``), the Nacos v1 config API (``/nacos/v1/cs``) and
      ``POST /nacos/v1/auth/login``, the OpenAPI document route, the "Configs" console page;
    * a :class:`~shipway.config_center.reconcile.Reconciler` component (started by ``shipway serve``).

    Cheap: nothing here talks to ZooKeeper (the service resolves ``ctx.kazoo`` on first use).
    """
    from shipway.config_center import models  # tables must be on Base before create_all
    from shipway.config_center import nacos_api, native_api, openapi_doc, pages
    from shipway.config_center.longpoll import WatchHub
    from shipway.config_center.reconcile import Reconciler
    from shipway.config_center.service import ConfigService
    from shipway.server import openapi
    from shipway.web.views import NAV, add_nav

    ctx.store.create_all()
    service = ctx.services.get("config")
    if not isinstance(service, ConfigService):
        models.drop_replaced_indexes(ctx.store.engine)
        service = ConfigService(ctx.store, lambda: ctx.kazoo)
        ctx.services["config"] = service
        ctx.services["config.hub"] = WatchHub(lambda: ctx.kazoo)
        ctx.add_component(Reconciler(ctx, service))
    app.register_blueprint(native_api.bp)
    for route in native_api.lane_routes(service):
        app.extensions["fastlane"].add(route)
    app.register_blueprint(nacos_api.bp)
    if not any(str(r) == "/nacos/v1/auth/login" for r in app.url_map.iter_rules()):
        app.register_blueprint(nacos_api.auth_bp)
    app.register_blueprint(pages.bp)
    openapi.add_paths(openapi_doc.PATHS, openapi_doc.SCHEMAS)
    openapi.init_app(app)
    if not any(e == "configs.index" for e, _, _ in NAV):
        add_nav("configs.index", "Configs", "viewer")
