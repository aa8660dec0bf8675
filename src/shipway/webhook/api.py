"""HTTP face of the webhook part: ``POST /webhooks/<forge>/<project>``, the projects API, and
``ctx.services["projects"]`` (:class:`~shipway.pipelines.projects.ProjectService`)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from shipway.core.http import context, csrf_exempt, public

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/<forge>/<project>")
@public
@csrf_exempt
def receive(forge: str, project: str):
    """A forge's delivery; authenticated by the forge's signature, not by a login."""
    receiver = context().services["webhook_receiver"]
    length = request.content_length
    body = None
    if length is None or length <= receiver.max_body:
        body = request.stream.read(receiver.max_body + 1)
    status, answer = receiver.handle(forge, project, request.headers, body, length,
                                     content_type=request.mimetype)
    resp = jsonify(answer)
    resp.status_code = status
    if answer.get("run_url"):
        resp.headers["Location"] = answer["run_url"]
    return resp


def register(app, ctx) -> None:
    """Add the webhook receiver and the projects API; publish ``projects``."""
    from shipway.pipelines import project_models  # noqa: F401 - tables on Base before create_all
    from shipway.pipelines.projects import ProjectService
    from shipway.pipelines.projects_api import bp as projects_bp
    from shipway.webhook import models  # noqa: F401
    from shipway.webhook.deliveries import DeliveryLog
    from shipway.webhook.notify import Notifier
    from shipway.web.views import NAV, add_nav
    from shipway.webhook.pages import bp as pages_bp
    from shipway.webhook.receiver import Receiver

    ctx.store.create_all()
    notifier = Notifier()
    ctx.services["projects"] = ProjectService(ctx.store, ctx.settings.secret_key, notifier)
    ctx.services["webhook_deliveries"] = DeliveryLog(ctx.store)
    ctx.services["webhook_receiver"] = Receiver(ctx.services, ctx.services["webhook_deliveries"])
    ctx.add_component(notifier)
    app.register_blueprint(bp)
    app.register_blueprint(projects_bp)
    app.register_blueprint(pages_bp)
    if not any(entry[0] == "projects.index" for entry in NAV):  # NAV is module-wide; apps are built often
        add_nav("projects.index", "Projects", "viewer")
