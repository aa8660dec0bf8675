"""``ctx.services["orchestrator"]`` (scale, history, rollback, pause) and the Deployments console page."""

from __future__ import annotations

import pytest

from shipway.orchestrator.objects import BY_KIND
from shipway.orchestrator.resources import Resources

from .fakes import MemoryStore
from .test_controllers import converge, deployment

DEPLOY = BY_KIND["Deployment"]


@pytest.fixture
def svc(unit_app):
    s = unit_app.extensions["shipway"].services["orchestrator"]
    s.store = MemoryStore()
    s.resources = Resources(s.store)
    s.resources.ensure_default_namespace()
    return s


def test_scale_history_rollback_pause(svc):
    res = svc.resources
    res.create(DEPLOY, "default",
               deployment(replicas=2))
    converge(res)
    svc.scale("default", "web", 3)
    converge(res)
    assert len(svc.list_pods("default", {"app": "web"})) == 3
    d = svc.get_deployment("default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    res.update(DEPLOY, "default",
               "web", d)
    converge(res)
    hist = svc.history("default", "web")
    assert [h["revision"] for h in hist] == [1, 2] and hist[1]["images"] == ["img:2"]
    svc.rollback("default", "web")
    converge(res)
    hist = svc.history("default", "web")
    assert [(h["revision"], h["images"]) for h in hist] == [(2, ["img:2"]), (3, ["img:1"])]
    assert svc.set_paused("default", "web", True)["spec"]["paused"] is True
    assert [d["metadata"]["name"] for d in svc.list_deployments()] == ["web"]


def test_deployments_page(unit_app, as_role, svc):
    svc.resources.create(DEPLOY, "default", deployment(replicas=1))
    converge(svc.resources)
    page = as_role(unit_app, "viewer").get("/deployments/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and b"default/web" in page.data and b"1/1 ready" in page.data
    assert unit_app.test_client().get("/deployments/", headers={"Accept": "text/html"}).status_code == 302
