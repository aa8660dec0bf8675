"""The Configs page in a real browser (Playwright + /usr/bin/chromium, session login, CSRF) on a live server."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import sync_playwright

from support.browser import launch, login



@pytest.mark.browser
@pytest.mark.zookeeper
@pytest.mark.slow
def test_create_edit_with_inline_error_rollback_in_the_browser(live_server, output_dir):
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {live_server.admin_token()}"
    url = f"{live_server.url}/api/v1/configs/public/DEFAULT_GROUP/site.json"
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            login(page, live_server.url, "admin", live_server.admin_password)
            page.click("nav >> text=Configs")
            page.fill("#new-config input[name=dataId]", "site.json")
            page.select_option("#new-config select[name=type]", "json")
            page.fill("#new-config textarea[name=content]", '{"title": "one"}')
            page.click("#new-config >> text=Create")
            page.wait_for_url("**/configs/public/DEFAULT_GROUP/site.json")
            assert api.get(url, timeout=5).json()["version"] == 1
            # invalid JSON: the error is shown next to the editor, the draft is kept, nothing is stored
            page.fill("#edit textarea[name=content]", '{"title": "two",\n}')
            page.click("#edit >> text=Publish")
            errors = page.locator("#errors")
            errors.wait_for()
            assert "line 2:1" in errors.inner_text()
            assert page.locator("#edit textarea[name=content]").input_value() == '{"title": "two",\n}'
            page.screenshot(path=str(output_dir / "config-inline-error.png"), full_page=True)
            assert api.get(url, timeout=5).json()["version"] == 1
            page.fill("#edit textarea[name=content]", '{"title": "two"}')
            page.click("#edit >> text=Publish")
            page.locator("text=published version 2").wait_for()
            page.click("button:has-text('Roll back to this')")
            page.locator("text=now version 3").wait_for()
            assert api.get(url, timeout=5).json()["content"] == '{"title": "one"}'
            page.screenshot(path=str(output_dir / "config-history.png"), full_page=True)
        finally:
            browser.close()
