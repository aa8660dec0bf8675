"""The whole journey: git push → tests → image → staging → approval in a browser → production → live config."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError

from support.journey import clone_and_push, login
from support.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.zookeeper, pytest.mark.registry]


def _goto_past_reload(page, url: str, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            page.goto(url)
            return
        except PlaywrightError as e:
            interrupted = "interrupted by another navigation" in str(e) or "ERR_ABORTED" in str(e)
            if not interrupted or attempt == attempts - 1:
                raise
            # The page's own reload is under way: let it finish before navigating again, or the next goto
            # may be cut short by the same reload.
            page.wait_for_load_state("load")


def _answer(url: str) -> str:
    try:
        return requests.get(url + "/", timeout=3).text
    except requests.RequestException:
        return ""


def test_push_to_production_with_browser_approval_and_live_config(shipway, browser, tmp_path, output_dir):
    # A newcomer sets up the example and an approver colleague.
    shipway.cli("demo")
    shipway.api("POST", "/api/v1/users", json={"username": "alice", "password": "alice-password", "role": "approver"})
    bare = str(shipway.server.data_dir / "demo" / "hello-service.git")

    # 1. git push starts the pipeline through the signed post-receive webhook.
    sha = clone_and_push(bare, tmp_path / "clone", {"CHANGES.md": "first change\n"}, "my first change")
    run = wait_for(lambda: shipway.latest_run("hello-service"), 20, message="the push to start a run")
    assert run["commit"] == sha and run["trigger"] == "push"

    # 2. tests, build, push, staging deploy → the run waits for a person.
    run = shipway.wait_run(run["id"], {"waiting-for-approval", "failed", "aborted", "timed-out"})
    assert run["status"] == "waiting-for-approval", run
    assert shipway.deployment_ready("staging", "hello")
    staging = shipway.service_url("staging", "hello")
    wait_for(lambda: "Hello from shipway" in _answer(staging), 30, message="staging to answer the greeting")

    # 3. the approver approves in a real browser.
    page = browser.new_page(viewport={"width": 1366, "height": 860})
    login(page, shipway.url, "alice", "alice-password")
    page.goto(shipway.url + f"/runs/{run['id']}")
    page.locator(".stage-node.succeeded[data-stage='deploy-staging']").wait_for()
    page.screenshot(path=str(output_dir / "run-waiting.png"), full_page=True)
    page.goto(shipway.url + "/approvals")
    card = page.locator(f"section.approval[data-run='{run['id']}']")
    card.wait_for()
    page.screenshot(path=str(output_dir / "approvals.png"), full_page=True)
    card.locator("input[name=comment]").fill("ship it")
    card.locator("button[value=approve]").click()
    page.wait_for_load_state()

    # 4. the same image goes to production.
    run = shipway.wait_run(run["id"], {"succeeded", "failed", "aborted", "timed-out"})
    assert run["status"] == "succeeded", run
    # The approval sent us to the live run view, which reloads itself once when the run ends (a finished
    # run's view does not): that reload may interrupt our own navigation, so go again after it.
    _goto_past_reload(page, shipway.url + f"/runs/{run['id']}")
    page.screenshot(path=str(output_dir / "run-view.png"), full_page=True)
    assert shipway.deployment_ready("prod", "hello")
    prod = shipway.service_url("prod", "hello")
    wait_for(lambda: "Hello from shipway" in _answer(prod), 30, message="prod to answer the greeting")
    images = {json.dumps(shipway.api("GET", f"/k8s/apis/apps/v1/namespaces/{ns}/deployments/hello").json()
                         ["spec"]["template"]["spec"]["containers"][0]["image"]) for ns in ("staging", "prod")}
    assert len(images) == 1, f"staging and prod run different images: {images}"

    # 5. the deployed instances are found through discovery, with no code of their own.
    hosts = shipway.api("GET", "/nacos/v1/ns/instance/list",
                        params={"serviceName": "hello", "namespaceId": "prod"}).json()["hosts"]
    assert len([h for h in hosts if h["healthy"]]) == 2

    # 6. the greeting changes live: same containers, new answer.
    before = shipway.pod_containers("prod", "hello")
    shipway.api("POST", "/nacos/v1/cs/configs", data={"dataId": "hello.json", "group": "DEFAULT_GROUP",
                                                      "type": "json", "content": json.dumps({"greeting": "Hej"})})
    wait_for(lambda: _answer(prod).startswith("Hej"), 30, message="prod to answer the new greeting")
    assert shipway.pod_containers("prod", "hello") == before, "containers were restarted"
    page.goto(shipway.url + "/")
    page.screenshot(path=str(output_dir / "dashboard.png"), full_page=True)
