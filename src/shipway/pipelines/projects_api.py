"""REST API of projects: ``/api/v1/projects``.

Reading needs ``viewer``; adding, changing and removing need ``developer``.
The webhook secret is shown once, in the answer that created (or rotated) it;
afterwards it is always masked. Secret values and credentials are never
returned, only their names.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from shipway.core.errors import BadRequest
from shipway.core.http import context, json_body, requires
from shipway.pipelines.projects import Project

bp = Blueprint("projects_api", __name__, url_prefix="/api/v1/projects")
MASK = "********"
FORGES = ("github", "gitlab", "gitea", "gogs", "bitbucket", "generic")
ADD_FIELDS = {"name", "repo_url", "webhook_secret", "branches", "pipeline_file", "default_pipeline",
              "credentials", "secrets", "notify_url", "status_api"}


def _svc():
    return context().services["projects"]


def base_url() -> str:
    """Where forges reach shipway: ``public_url`` if set, else the URL this request came to."""
    return (context().settings.public_url or request.host_url).rstrip("/")


def webhook_urls(base: str, name: str) -> dict[str, str]:
    return {f: f"{base}/webhooks/{f}/{name}" for f in FORGES}


def present(p: Project, *, secret: str | None = None) -> dict:
    """The API form of a project; ``secret`` is included only when it was just created."""
    d = p.to_dict()
    d["webhook_secret"] = secret if secret is not None else MASK
    d["secrets"] = {n: MASK for n in p.secret_names}
    d["credentials"] = MASK if p.has_credentials else None
    d["webhooks"] = webhook_urls(base_url(), p.name)
    return d


@bp.get("")
@requires("viewer")
def list_projects():
    return jsonify({"items": [present(p) for p in _svc().list()]})


@bp.post("")
@requires("developer")
def add_project():
    body = json_body()
    unknown = sorted(set(body) - ADD_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    name = body.pop("name", None)
    repo_url = body.pop("repo_url", None)
    if not isinstance(name, str):
        raise BadRequest("'name' is required", field="name")
    svc = _svc()
    project = svc.add(name, repo_url, **body)
    resp = jsonify(present(project, secret=svc.webhook_secret_of(name)))
    resp.status_code = 201
    resp.headers["Location"] = f"/api/v1/projects/{name}"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/<name>")
@requires("viewer")
def get_project(name: str):
    return jsonify(present(_svc().get(name)))


@bp.patch("/<name>")
@requires("developer")
def update_project(name: str):
    return jsonify(present(_svc().update(name, **json_body())))


@bp.delete("/<name>")
@requires("developer")
def remove_project(name: str):
    _svc().remove(name)
    return "", 204


@bp.post("/<name>/webhook-secret")
@requires("developer")
def rotate_secret(name: str):
    svc = _svc()
    secret = svc.rotate_webhook_secret(name)
    resp = jsonify(present(svc.get(name), secret=secret))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/<name>/deliveries")
@requires("viewer")
def deliveries(name: str):
    _svc().get(name)
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 500)
    except ValueError:
        raise BadRequest("limit must be an integer", field="limit") from None
    return jsonify({"items": context().services["webhook_deliveries"].list(name, limit)})
