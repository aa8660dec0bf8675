"""The "Configs" console page: browse, edit with inline validation errors, diff, rollback, beta."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.zookeeper


def test_configs_page(app, as_role, config):
    dev = as_role(app, "developer")
    page = dev.get("/configs/")
    assert page.status_code == 200 and b"No configs" in page.data
    assert b'href="/configs/"' in dev.get("/").data  # in the nav
    # invalid JSON: the form comes back with the error inline and nothing is stored
    r = dev.post("/configs/save", data={"namespace": "public", "group": "G", "dataId": "a.json", "type": "json",
                                        "content": '{"a": 1,\n "b": ]}', "casMd5": ""})
    assert r.status_code == 400 and b"line 2:7" in r.data and b"&#34;b&#34;: ]" in r.data
    assert config.list_configs()[0] == 0
    r = dev.post("/configs/save", data={"namespace": "public", "group": "G", "dataId": "a.json", "type": "json",
                                        "content": '{"a": 1}', "casMd5": ""})
    assert r.status_code == 302
    md5 = config.get("public", "G", "a.json")["md5"]
    dev.post("/configs/save", data={"namespace": "public", "group": "G", "dataId": "a.json", "type": "json",
                                    "content": '{"a": 2}', "casMd5": md5})
    # a stale form (old casMd5) is refused inline
    r = dev.post("/configs/save", data={"namespace": "public", "group": "G", "dataId": "a.json", "type": "json",
                                        "content": '{"a": 3}', "casMd5": md5})
    assert r.status_code == 409 and b"changed by someone else" in r.data
    assert b"a.json" in dev.get("/configs/?dataId=*.json").data
    detail = dev.get("/configs/public/G/a.json?from=1&to=2")
    assert detail.status_code == 200 and b'+{&#34;a&#34;: 2}' in detail.data
    dev.post("/configs/public/G/a.json/action", data={"action": "rollback", "version": "1"})
    assert config.get("public", "G", "a.json")["content"] == '{"a": 1}'
    dev.post("/configs/public/G/a.json/action", data={"action": "beta", "ips": "10.0.0.2", "labels": "x=y",
                                                      "content": '{"beta": true}'})
    assert config.beta_get("public", "G", "a.json")["labels"] == {"x": "y"}
    assert b"beta active" in dev.get("/configs/public/G/a.json").data
    dev.post("/configs/public/G/a.json/action", data={"action": "promote"})
    assert config.get("public", "G", "a.json")["content"] == '{"beta": true}'
    viewer = as_role(app, "viewer")
    assert viewer.get("/configs/public/G/a.json").status_code == 200
    assert viewer.post("/configs/public/G/a.json/action", data={"action": "delete"}).status_code == 403
    dev.post("/configs/public/G/a.json/action", data={"action": "delete"})
    assert config.list_configs()[0] == 0
