"""Every console page in a real browser: log in, navigate from the nav bar, do the page's main action.

One fresh ``shipway serve`` is filled quickly through the APIs (a project with a two-stage pipeline — one host
step, then an approval — a one-replica Deployment, a registered instance, a JSON config); then a viewer checks
that every page shows content but no enabled action button, and an admin walks the pages doing each page's
main action. Full-page screenshots land in ``test-output/<test>/<page>.png`` for a person to look at.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from support.journey import login
from support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.docker, pytest.mark.zookeeper,
              pytest.mark.registry]

PIPELINE = """\
name: pages
stages:
  - name: hello
    steps:
      - {name: greet, run: "echo hello from the console test"}
  - name: gate
    kind: approve
    message: Ship the console test?
"""

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "shipway/busybox:latest",
                                                   "command": ["httpd", "-f", "-p", "8080", "-h", "/tmp"]}]}}},
}
DEPLOYMENT_PATH = "/k8s/apis/apps/v1/namespaces/default/deployments"

#: The pages of the navigation bar: (link label, screenshot name).
PAGES = [("Dashboard", "dashboard"), ("Projects", "projects"), ("Runs", "runs"), ("Approvals", "approvals"),
         ("Deployments", "deployments"), ("Services", "services"), ("Configs", "configs")]


def _nav(page: Page, label: str) -> None:
    """Go to a page the way a person does: click its link in the navigation bar."""
    page.locator("header.top nav").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("header.top nav a.active")).to_have_text(label)


def _shot(page: Page, output_dir, name: str) -> None:
    """Save a full-page screenshot, after checking the page fits the window (no sideways scrolling)."""
    wide = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert wide[0] <= wide[1], f"{name}: the page is {wide[0]} px wide in a {wide[1]} px window"
    page.screenshot(path=str(output_dir / f"{name}.png"), full_page=True)


def _no_enabled_actions(page: Page) -> None:
    """A viewer may look, not act: no enabled button of a state-changing (POST) form in the page body."""
    enabled = page.locator("main form[method=post] button:enabled")
    assert enabled.count() == 0, f"{page.url}: viewer sees enabled actions: {enabled.all_inner_texts()}"


# -- the content, made through the APIs ------------------------------------------
def _fill(shipway, git_repo) -> dict:
    shipway.api("POST", "/api/v1/users", json={"username": "vera", "password": "vera-password", "role": "viewer"})
    shipway.api("POST", "/api/v1/projects", json={"name": "pages", "repo_url": git_repo.url, "branches": ["main"],
                                                  "default_pipeline": PIPELINE})
    run = shipway.api("POST", "/api/v1/runs", json={"project": "pages"}).json()
    shipway.api("POST", "/k8s/api/v1/namespaces", ok=(200, 201, 409),
                json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    shipway.api("POST", DEPLOYMENT_PATH, json=DEPLOYMENT)
    # A persistent instance on shipway's own port, so its health check has something to reach.
    shipway.api("POST", "/nacos/v1/ns/instance", data={"serviceName": "orders", "ip": "127.0.0.1",
                                                       "port": str(shipway.server.port), "ephemeral": "false"})
    shipway.api("POST", "/nacos/v1/cs/configs", data={"dataId": "app.json", "group": "DEFAULT_GROUP", "type": "json",
                                                      "content": json.dumps({"greeting": "Hello"}, indent=2)})
    run = shipway.wait_run(run["id"], {"waiting-for-approval", "failed", "aborted", "timed-out"}, timeout=60)
    assert run["status"] == "waiting-for-approval", run
    wait_for(lambda: shipway.deployment_ready("default", "web"), 60, interval=0.3, message="default/web ready")
    return run


# -- the viewer: every page readable, nothing to press ---------------------------
def _viewer_pass(browser, shipway, run: dict, output_dir) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    login(page, shipway.url, "vera", "vera-password")
    expect(page.locator("header.top .who")).to_contain_text("vera")
    for label, name in PAGES:
        _nav(page, label)
        _no_enabled_actions(page)
        if name == "approvals":
            card = page.locator(f"section.approval[data-run='{run['id']}']")
            expect(card.locator("button[value=approve]")).to_be_disabled()
            expect(card).to_contain_text("You cannot decide")
            _shot(page, output_dir, "viewer-approvals")
    # The detail pages with actions: instances and a config.
    _nav(page, "Services")
    page.get_by_role("link", name="orders", exact=True).click()
    _no_enabled_actions(page)
    _nav(page, "Configs")
    page.get_by_role("link", name="app.json", exact=True).click()
    expect(page.locator("textarea[name=content]")).to_have_attribute("readonly", "")
    _no_enabled_actions(page)
    _shot(page, output_dir, "viewer-config")
    context.close()


# -- the admin: each page's main action ------------------------------------------
def _dashboard(page: Page, run: dict, output_dir) -> None:
    _nav(page, "Dashboard")
    expect(page.get_by_test_id("approvals-count")).to_contain_text("1 approval waiting")
    expect(page.locator("main")).to_contain_text("pages")
    expect(page.locator("main")).to_contain_text("web")
    _shot(page, output_dir, "dashboard")


def _projects(page: Page, output_dir) -> None:
    _nav(page, "Projects")
    _shot(page, output_dir, "projects")
    page.get_by_role("link", name="pages", exact=True).click()
    expect(page.locator("h1")).to_have_text("Project pages")
    expect(page.locator("main")).to_contain_text("/webhooks/github/pages")  # the URLs to give a forge
    _shot(page, output_dir, "project-detail")


def _runs(page: Page, run: dict, output_dir) -> None:
    _nav(page, "Runs")
    _shot(page, output_dir, "runs")
    page.get_by_role("link", name=f"#{run['number']}", exact=True).click()
    expect(page.locator("#run-status")).to_have_text("waiting-for-approval")
    stages = page.locator("table.stages").last
    expect(stages).to_contain_text("hello")
    expect(stages).to_contain_text("gate")
    expect(stages.locator("tbody tr").first).to_contain_text(" s")  # a duration with its unit
    # The log streams in over SSE (the page clears it and replays the stream).
    expect(page.locator("#log")).to_contain_text("hello from the console test")
    _shot(page, output_dir, "run-view")
    page.set_viewport_size({"width": 1024, "height": 700})  # a small laptop
    _shot(page, output_dir, "run-view-1024")
    page.set_viewport_size({"width": 1366, "height": 860})


def _approvals(page: Page, shipway, run: dict, output_dir) -> None:
    _nav(page, "Approvals")
    card = page.locator(f"section.approval[data-run='{run['id']}']")
    expect(card).to_contain_text("Ship the console test?")
    _shot(page, output_dir, "approvals")
    card.locator("input[name=comment]").fill("looks good")
    card.locator("button[value=approve]").click()
    # Approving in place lands on the run view, which follows the run to its end.
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("section.approval[data-stage=gate]")).to_contain_text("looks good")
    assert shipway.run(run["id"])["status"] == "succeeded"
    _shot(page, output_dir, "run-approved")
    _nav(page, "Approvals")
    expect(page.locator("main .empty")).to_contain_text("Nothing is waiting")


def _deployments(page: Page, shipway, output_dir) -> None:
    _nav(page, "Deployments")
    card = page.locator("section.card", has=page.locator("h2", has_text="default/web"))
    expect(card.locator("h2")).to_contain_text("1/1 ready")
    card.locator("input[name=replicas]").fill("2")
    card.get_by_role("button", name="Scale").click()
    expect(page.locator("main")).to_contain_text("web scaled to 2")
    wait_for(lambda: shipway.deployment_ready("default", "web"), 60, interval=0.3, message="web scaled to 2")
    assert shipway.api("GET", DEPLOYMENT_PATH + "/web").json()["spec"]["replicas"] == 2
    page.reload()
    card = page.locator("section.card", has=page.locator("h2", has_text="default/web"))
    expect(card.locator("h2")).to_contain_text("2/2 ready")
    expect(card.locator("tbody tr")).to_have_count(2)
    _shot(page, output_dir, "deployments")
    pod = card.locator("tbody tr").first.locator("td").first.inner_text()
    card.locator("tbody tr").first.get_by_role("link", name="logs").click()
    expect(page.locator("h1")).to_contain_text(f"default/{pod}")
    expect(page.locator("pre.log")).to_be_visible()


def _services(page: Page, shipway, output_dir) -> None:
    _nav(page, "Services")
    expect(page.locator("main table")).to_contain_text("orders")
    _shot(page, output_dir, "services")
    page.get_by_role("link", name="orders", exact=True).click()
    row = page.locator("main tbody tr").first
    expect(row).to_contain_text(f"127.0.0.1:{shipway.server.port}")
    row.get_by_role("button", name="Disable").click()
    row = page.locator("main tbody tr").first
    expect(row).to_contain_text("disabled")
    row.locator("input[name=weight]").fill("3")
    row.get_by_role("button", name="Set").click()
    expect(page.locator("main tbody tr").first.locator("input[name=weight]")).to_have_value("3.0")
    hosts = shipway.api("GET", "/nacos/v1/ns/instance/list", params={"serviceName": "orders"}).json()["hosts"]
    assert not [h for h in hosts if h["enabled"]], f"discovery still hands out the disabled instance: {hosts}"
    _shot(page, output_dir, "service-detail")


def _configs(page: Page, shipway, output_dir) -> None:
    _nav(page, "Configs")
    expect(page.locator("#configs")).to_contain_text("app.json")
    _shot(page, output_dir, "configs")
    page.get_by_role("link", name="app.json", exact=True).click()
    content = page.locator("#edit textarea[name=content]")
    content.fill('{\n  "greeting": "Hej",\n  "colour": \n}\n')
    page.locator("#edit").get_by_role("button", name="Publish").click()
    expect(page.locator("#errors")).to_contain_text("line 4:1")
    _shot(page, output_dir, "config-invalid")
    content = page.locator("#edit textarea[name=content]")
    expect(content).to_have_value('{\n  "greeting": "Hej",\n  "colour": \n}\n')  # the draft is kept
    content.fill('{\n  "greeting": "Hej",\n  "colour": "blue"\n}\n')
    page.locator("#edit").get_by_role("button", name="Publish").click()
    expect(page.locator("main")).to_contain_text("published version 2")
    expect(page.locator("h1")).to_contain_text("v2")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    got = shipway.api("GET", "/nacos/v1/cs/configs", params={"dataId": "app.json", "group": "DEFAULT_GROUP"})
    assert json.loads(got.text) == {"greeting": "Hej", "colour": "blue"}
    _shot(page, output_dir, "config-saved")


def test_every_console_page(shipway, browser, git_repo, output_dir):
    try:
        run = _fill(shipway, git_repo)
        _viewer_pass(browser, shipway, run, output_dir)
        context = browser.new_context(viewport={"width": 1366, "height": 860})
        page = context.new_page()
        login(page, shipway.url, "admin", shipway.server.admin_password)
        _dashboard(page, run, output_dir)
        _projects(page, output_dir)
        _runs(page, run, output_dir)
        _approvals(page, shipway, run, output_dir)
        _deployments(page, shipway, output_dir)
        _services(page, shipway, output_dir)
        _configs(page, shipway, output_dir)
        context.close()
    finally:
        # Deleting the Deployment removes its pods' containers (the fixture only removes the journey's).
        shipway.http.delete(shipway.url + DEPLOYMENT_PATH + "/web", timeout=30)


def test_empty_console_tells_a_newcomer_what_to_do(shipway, browser, output_dir):
    """A fresh install: every page says what to do next instead of showing an empty table; errors link back."""
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    page.goto(shipway.url + "/runs")
    expect(page).to_have_url(re.compile(r"/login"))  # a page needs a login first
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    _shot(page, output_dir, "login-failed")
    login(page, shipway.url, "admin", shipway.server.admin_password)
    hints = {"dashboard": "shipway demo", "projects": "shipway project add", "runs": "No runs yet",
             "approvals": "Nothing is waiting", "deployments": "shipway apply -f", "services": "No services",
             "configs": "No configs"}
    for label, name in PAGES:
        _nav(page, label)
        expect(page.locator("main .empty").first).to_contain_text(hints[name])
        _shot(page, output_dir, f"empty-{name}")
    page.goto(shipway.url + "/runs/4242")
    expect(page.locator("main h1")).to_contain_text("404")
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page.locator("main h1")).to_have_text("Dashboard")
    _shot(page, output_dir, "empty-dashboard")
    page.locator("header.top").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    context.close()
