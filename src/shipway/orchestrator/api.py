"""HTTP face of this part: ``register(app, ctx)`` adds its blueprints, components and health checks."""

from __future__ import annotations


def register(app, ctx) -> None:
    """Add the orchestrator: the Kubernetes API under ``/k8s``, ``ctx.services["orchestrator"]``,
    the controller manager, the node agent and the Service proxy (components started by ``serve``).

    Cheap: nothing here touches ZooKeeper or Docker.
    """
    from shipway.orchestrator import apiserver, pages
    from shipway.orchestrator.agent import Agent
    from shipway.orchestrator.controllers import ControllerManager
    from shipway.orchestrator.proxy import ServiceProxy
    from shipway.orchestrator.service import OrchestratorService
    from shipway.orchestrator.tls import TlsFront
    from shipway.web.views import NAV, add_nav

    svc = ctx.services.get("orchestrator")
    if not isinstance(svc, OrchestratorService):
        svc = OrchestratorService(ctx)
        ctx.services["orchestrator"] = svc
        svc.agent = Agent(svc)
        svc.controllers = ControllerManager(svc)
        svc.proxy = ServiceProxy(svc.store)
        svc.tls = TlsFront(ctx)
        ctx.add_component(svc.tls)
        ctx.add_component(svc.controllers)
        ctx.add_component(svc.agent)
        ctx.add_component(svc.proxy)
    app.register_blueprint(apiserver.bp)
    app.register_blueprint(pages.bp)
    if not any(e == "deployments.index" for e, _, _ in NAV):
        add_nav("deployments.index", "Deployments", "viewer")
