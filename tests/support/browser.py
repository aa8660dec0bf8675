"""Debian's Chromium driven by Playwright: one launch recipe and one login for every browser test."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
# Headless, no sandbox (root), and no background traffic: this machine's network is closed.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright):
    """Start Debian's Chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def login(page, base: str, username: str, password: str) -> None:
    """Log in through the login page and wait until it has sent us on."""
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
