"""The journeys that must fail safely: failing tests ship nothing; a failed production rollout rolls back."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from support.journey import clone_and_push, login
from support.waiting import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.zookeeper, pytest.mark.registry]

FAILING_TEST = '''
import unittest


class BrokenTest(unittest.TestCase):
    def test_greeting_is_polite(self):
        self.assertEqual("Hi", "Hello", "the greeting lost its manners")
'''


@pytest.mark.browser
def test_failing_tests_push_nothing_and_deploy_nothing(shipway, browser, tmp_path, output_dir):
    shipway.cli("demo")
    bare = str(shipway.server.data_dir / "demo" / "hello-service.git")
    clone_and_push(bare, tmp_path / "clone", {"tests/test_broken.py": FAILING_TEST}, "a change that breaks a test")
    run = wait_for(lambda: shipway.latest_run("hello-service"), 20, message="the push to start a run")
    run = shipway.wait_run(run["id"], {"succeeded", "failed", "aborted", "timed-out", "waiting-for-approval"})
    assert run["status"] == "failed"

    full = shipway.api("GET", f"/api/v1/runs/{run['id']}", params={"full": 1}).json()
    status = {s["name"]: s["status"] for s in full["stages"]}
    assert status["test"] == "failed"
    assert all(status.get(s) in (None, "skipped", "pending", "not-run") for s in
               ("build", "push", "deploy-staging", "approve", "deploy-prod")), status
    log = shipway.http.get(shipway.url + f"/api/v1/runs/{run['id']}/logs",
                           params={"format": "text", "limit": 100000}, timeout=30).text
    assert "the greeting lost its manners" in log and "FAILED (failures=1)" in log

    # Nothing was pushed to the registry, nothing was deployed.
    registry = shipway.server.registry_address()
    tags = requests.get(f"http://{registry}/v2/hello-service/tags/list", timeout=5)
    assert tags.status_code == 404 or not tags.json().get("tags")
    r = shipway.http.get(shipway.url + "/k8s/apis/apps/v1/namespaces/staging/deployments/hello", timeout=10)
    assert r.status_code == 404

    # The run view shows the failing test.
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, shipway.url, "admin", shipway.server.admin_password)
    page.goto(shipway.url + f"/runs/{run['id']}")
    page.wait_for_selector("text=the greeting lost its manners")
    page.screenshot(path=str(output_dir / "failed-run.png"), full_page=True)




def _approve(shipway, run_id: int) -> None:
    shipway.wait_run(run_id, {"waiting-for-approval"}, timeout=300)
    shipway.api("POST", f"/api/v1/runs/{run_id}/approvals/approve", json={"decision": "approve"})


def test_failed_production_rollout_rolls_back_and_old_version_keeps_answering(shipway, tmp_path):
    shipway.cli("demo")
    bare = str(shipway.server.data_dir / "demo" / "hello-service.git")

    # Version 1 goes all the way to production.
    clone_and_push(bare, tmp_path / "v1", {"CHANGES.md": "v1\n"}, "version one")
    run1 = wait_for(lambda: shipway.latest_run("hello-service"), 20, message="run 1")
    _approve(shipway, run1["id"])
    assert shipway.wait_run(run1["id"], {"succeeded", "failed", "aborted"})["status"] == "succeeded"
    prod = shipway.service_url("prod", "hello")
    wait_for(lambda: "version 1" in requests.get(prod, timeout=3).text, 30, message="v1 in prod")

    # Version 2's production manifests carry a readiness probe that never passes.
    work = tmp_path / "v1"
    good = (work / "k8s" / "deployment.yaml").read_text()
    broken = good.replace("path: /readyz", "path: /never-ready")
    assert broken != good
    pipeline = (work / ".shipway.yml").read_text()
    pipeline = pipeline.replace("    namespace: prod\n    rollout_timeout: 3m", "    namespace: prod\n"
                                "    rollout_timeout: 25s").replace(
        "  - name: deploy-prod\n    kind: deploy\n    manifests: k8s/*.yaml",
        "  - name: deploy-prod\n    kind: deploy\n    manifests: k8s-prod/*.yaml")
    assert "k8s-prod" in pipeline and "25s" in pipeline

    answers: list[str] = []
    stop = threading.Event()

    def watch_prod() -> None:
        # A bounded poll (≤ 5 per second for at most 4 minutes) of what production answers.
        deadline = time.monotonic() + 240
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                answers.append(requests.get(prod, timeout=3).text)
            except requests.RequestException as e:
                answers.append(f"ERROR {e.__class__.__name__}")
            stop.wait(0.2)

    import git
    repo = git.Repo(work)
    for rel, text in {"k8s-prod/deployment.yaml": broken, "k8s-prod/service.yaml":
                      (work / "k8s" / "service.yaml").read_text(), ".shipway.yml": pipeline}.items():
        (work / rel).parent.mkdir(exist_ok=True)
        (work / rel).write_text(text)
        repo.index.add([rel])
    repo.index.commit("version two, with a production probe that never passes")
    watcher = threading.Thread(target=watch_prod, daemon=True)
    watcher.start()
    repo.git.push("origin", "main")

    run2 = wait_for(lambda: (r := shipway.latest_run("hello-service")) and r["id"] != run1["id"] and r,
                    20, message="run 2")
    _approve(shipway, run2["id"])
    run2 = shipway.wait_run(run2["id"], {"succeeded", "failed", "aborted", "timed-out"})
    stop.set()
    watcher.join(10)

    assert run2["status"] == "failed"
    full = shipway.api("GET", f"/api/v1/runs/{run2['id']}", params={"full": 1}).json()
    prod_stage = next(s for s in full["stages"] if s["name"] == "deploy-prod")
    assert prod_stage["status"] == "failed"
    log = shipway.http.get(shipway.url + f"/api/v1/runs/{run2['id']}/logs",
                           params={"format": "text", "limit": 100000}, timeout=30).text
    assert "rolled back to revision" in log, log[-3000:]

    # Production was rolled back to version 1 and answered version 1 the whole time.
    assert answers and all("version 1" in a for a in answers), [a for a in answers if "version 1" not in a][:5]
    d = shipway.api("GET", "/k8s/apis/apps/v1/namespaces/prod/deployments/hello").json()
    probe = d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"]
    assert probe == "/readyz"
    wait_for(lambda: shipway.deployment_ready("prod", "hello"), 60, message="prod healthy after the rollback")
