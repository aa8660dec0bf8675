"""The console page "Services": listing, enable/disable and weight edits through forms with CSRF."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.zookeeper


def _login(app, role="developer"):
    ctx = app.extensions["shipway"]
    ctx.users.add(f"page-{role}", "password-long-enough", role)
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/login", data={"username": f"page-{role}", "password": "password-long-enough",
                                    "csrf_token": token})
    assert r.status_code in (302, 303)
    return client


def test_services_page_edits(app, naming):
    naming.register_instance("shop", "10.4.0.1", 80, metadata={"shipway.health.check": "none"})
    client = _login(app)
    html = client.get("/services/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "shop" in html and "1/1" in html
    html = client.get("/services/public/DEFAULT_GROUP/shop").get_data(as_text=True)
    assert "10.4.0.1:80" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    iid = "10.4.0.1#80#DEFAULT#DEFAULT_GROUP@@shop"
    url = f"/services/public/DEFAULT_GROUP/shop/instances/{quote(iid)}"
    assert client.post(url, data={"action": "disable", "csrf_token": token}).status_code == 302
    assert naming.list_instances("shop")[0]["enabled"] is False
    client.post(url, data={"action": "weight", "weight": "7", "csrf_token": token})
    assert naming.list_instances("shop")[0]["weight"] == 7
    html = client.post(url, data={"action": "weight", "weight": "-3", "csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "weight must be" in html
    assert client.post(url, data={"action": "enable"}).status_code == 400  # no CSRF token
    assert naming.list_instances("shop")[0]["enabled"] is False


def test_viewer_cannot_edit(app, naming):
    naming.register_instance("shop", "10.4.0.1", 80, metadata={"shipway.health.check": "none"})
    client = _login(app, "viewer")
    html = client.get("/services/public/DEFAULT_GROUP/shop").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    iid = quote("10.4.0.1#80#DEFAULT#DEFAULT_GROUP@@shop")
    r = client.post(f"/services/public/DEFAULT_GROUP/shop/instances/{iid}",
                    data={"action": "disable", "csrf_token": token})
    assert r.status_code == 403
