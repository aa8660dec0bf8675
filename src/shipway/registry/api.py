"""HTTP face of the registry: ``register(app, ctx)`` adds the naming service, its APIs, page and timers."""

from __future__ import annotations

from shipway.registry.naming import NamingService


def register(app, ctx) -> None:
    """Add the naming server: ``ctx.services["naming"]``, REST + Nacos blueprints, console page, timers.

    Cheap: nothing here talks to ZooKeeper; the naming service resolves ``ctx.kazoo`` on first use and
    the health timers start with ``shipway serve``.
    """
    from shipway.registry import nacos, openapi_doc, pages, rest
    from shipway.registry.health import HealthKeeper
    from shipway.web.views import NAV, add_nav

    naming = ctx.services.get("naming")
    if not isinstance(naming, NamingService):
        naming = NamingService(lambda: ctx.kazoo)
        ctx.services["naming"] = naming
        ctx.add_component(HealthKeeper(ctx, naming))
    app.register_blueprint(rest.bp)
    app.register_blueprint(nacos.bp)
    for route in nacos.lane_routes(naming):
        app.extensions["fastlane"].add(route)
    app.register_blueprint(pages.bp)
    from shipway.server import openapi
    openapi.add_paths(openapi_doc.PATHS, openapi_doc.SCHEMAS)
    openapi.init_app(app)
    if not any(e == "services.index" for e, _, _ in NAV):
        add_nav("services.index", "Services", "viewer")
