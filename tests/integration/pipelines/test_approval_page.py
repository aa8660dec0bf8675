"""The approval page in a real browser (Playwright + /usr/bin/chromium) against a live `shipway serve`."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import sync_playwright

from support.browser import launch, login
from support.waiting import wait_for

PIPELINE = """
stages:
  - name: build
    steps: [{run: echo building the thing}]
  - name: production
    kind: approve
    message: Deploy build to production?
  - name: deploy
    steps: [{run: echo deployed-after-approval}]
"""


@pytest.mark.browser
@pytest.mark.zookeeper
@pytest.mark.slow
def test_approve_in_the_browser(live_server, git_repo, output_dir):
    git_repo.commit({".shipway.yml": PIPELINE}, "add pipeline")
    git_repo.push()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {live_server.admin_token()}"
    assert s.post(f"{live_server.url}/api/v1/projects", json={"name": "web", "repo_url": git_repo.url,
                                                               "branches": ["main"]}, timeout=10).ok
    run = s.post(f"{live_server.url}/api/v1/runs", json={"project": "web", "branch": "main"}, timeout=10).json()
    wait_for(lambda: s.get(f"{live_server.url}/api/v1/runs/{run['id']}", timeout=5).json()["status"]
             == "waiting-for-approval", 60, message="run waiting for approval")
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            login(page, live_server.url, "admin", live_server.admin_password)
            page.click("text=Approvals")
            card = page.locator(f"section.approval[data-run='{run['id']}']")
            card.wait_for()
            assert "Deploy build to production?" in card.inner_text()
            assert "add pipeline" in card.inner_text()  # the commit message
            page.screenshot(path=str(output_dir / "approvals.png"), full_page=True)
            card.locator("input[name=comment]").fill("looks good")
            card.locator("button[value=approve]").click()
            page.wait_for_url(f"**/runs/{run['id']}")
            page.locator("#run-status", has_text="succeeded").wait_for(timeout=60000)
            page.reload()
            assert "deployed-after-approval" in page.locator("#log").inner_text()
            assert "approved by admin" in page.content()
            page.screenshot(path=str(output_dir / "run-approved.png"), full_page=True)
        finally:
            browser.close()
