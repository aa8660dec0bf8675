"""The Nacos v1 config API driven by plain HTTP exactly as Nacos clients send it (form-encoded), against a
real ``shipway serve`` (gevent) — including long polling and the login token."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.parse

import pytest
import requests

pytestmark = pytest.mark.zookeeper

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


@pytest.fixture
def nacos(live_server):
    """(base url, accessToken from /nacos/v1/auth/login)."""
    r = requests.post(live_server.url + "/nacos/v1/auth/login",
                      data={"username": "admin", "password": live_server.admin_password}, headers=FORM)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tokenTtl"] > 0 and body["globalAdmin"] is True
    return live_server.url + "/nacos/v1", body["accessToken"]


def test_login_failure(live_server):
    r = requests.post(live_server.url + "/nacos/v1/auth/login", data={"username": "admin", "password": "nope"})
    assert r.status_code == 403


def test_publish_get_cas_delete_history(nacos):
    base, tok = nacos
    cs = base + "/cs/configs"
    q = {"accessToken": tok}
    # accessToken in the form body, as Nacos clients send it on POST
    r = requests.post(cs, data={"dataId": "app.properties", "group": "DEFAULT_GROUP", "content": "a=1",
                                "type": "properties", "accessToken": tok}, headers=FORM)
    assert (r.status_code, r.text) == (200, "true")
    r = requests.get(cs, params={**q, "dataId": "app.properties", "group": "DEFAULT_GROUP"})
    assert r.status_code == 200 and r.text == "a=1"
    assert r.headers["Content-MD5"] == md5("a=1") and r.headers["Config-Type"] == "properties"
    # CAS: stale casMd5 → 409, right one → true
    r = requests.post(cs, params=q, data={"dataId": "app.properties", "group": "DEFAULT_GROUP", "content": "a=2",
                                          "casMd5": md5("nope")})
    assert r.status_code == 409
    r = requests.post(cs, params=q, data={"dataId": "app.properties", "group": "DEFAULT_GROUP", "content": "a=2",
                                          "casMd5": md5("a=1"), "type": "properties"})
    assert r.text == "true"
    # bad input: nothing changes
    for data, status in [({"dataId": "bad id", "group": "G", "content": "x"}, 400),
                         ({"group": "G", "content": "x"}, 400),
                         ({"dataId": "app.properties", "group": "DEFAULT_GROUP", "content": "{", "type": "json"}, 400),
                         ({"dataId": "app.properties", "group": "DEFAULT_GROUP", "content": "x" * 1_000_001}, 413)]:
        assert requests.post(cs, params=q, data=data).status_code == status
    assert requests.post(cs, data={"dataId": "x", "group": "G", "content": "y"}).status_code == 401
    assert requests.get(cs, params={**q, "dataId": "app.properties", "group": "DEFAULT_GROUP"}).text == "a=2"
    # tenant
    requests.post(cs, params=q, data={"dataId": "t", "group": "G", "tenant": "dev", "content": "in-dev"})
    assert requests.get(cs, params={**q, "dataId": "t", "group": "G", "tenant": "dev"}).text == "in-dev"
    assert requests.get(cs, params={**q, "dataId": "t", "group": "G"}).status_code == 404
    # history
    h = requests.get(base + "/cs/history", params={**q, "search": "accurate", "dataId": "app.properties",
                                                   "group": "DEFAULT_GROUP"}).json()
    assert h["totalCount"] == 2 and [i["opType"] for i in h["pageItems"]] == ["U  ", "I  "]
    newest = h["pageItems"][0]
    one = requests.get(base + "/cs/history", params={**q, "nid": newest["id"], "dataId": "app.properties",
                                                     "group": "DEFAULT_GROUP"}).json()
    assert one["content"] == "a=2"
    prev = requests.get(base + "/cs/history/previous", params={**q, "id": newest["id"], "dataId": "app.properties",
                                                               "group": "DEFAULT_GROUP"}).json()
    assert prev["content"] == "a=1"
    # delete, then 404 with Nacos's body
    r = requests.delete(cs, params={**q, "dataId": "app.properties", "group": "DEFAULT_GROUP"})
    assert r.text == "true"
    r = requests.get(cs, params={**q, "dataId": "app.properties", "group": "DEFAULT_GROUP"})
    assert r.status_code == 404 and r.text.strip() == "config data not exist"


def test_long_polling(nacos):
    base, tok = nacos
    cs = base + "/cs/configs"
    q = {"accessToken": tok}
    requests.post(cs, params=q, data={"dataId": "lp", "group": "G", "content": "v1"})
    requests.post(cs, params=q, data={"dataId": "lp2", "group": "G", "tenant": "dev", "content": "w1"})
    listening = f"lp\x02G\x02{md5('v1')}\x01lp2\x02G\x02{md5('w1')}\x02dev\x01"
    # a stale md5 answers at once with the url-encoded key
    r = requests.post(cs + "/listener", params=q, data={"Listening-Configs": f"lp\x02G\x02{md5('old')}\x01"},
                      headers={"Long-Pulling-Timeout": "30000"}, timeout=10)
    assert urllib.parse.unquote_plus(r.text.strip()) == "lp\x02G\x01"
    # timeout with no change: empty 200 after ~timeout - 500 ms
    t0 = time.monotonic()
    r = requests.post(cs + "/listener", params=q, data={"Listening-Configs": listening},
                      headers={"Long-Pulling-Timeout": "1500"}, timeout=10)
    assert (r.status_code, r.text) == (200, "") and 0.8 < time.monotonic() - t0 < 5
    # a held answer is a plain body with a length, like any other (not chunked)
    assert r.headers["Content-Length"] == "0" and "Transfer-Encoding" not in r.headers
    # no-hangup (Nacos clients while initialising): answered at once even without a change
    t0 = time.monotonic()
    r = requests.post(cs + "/listener", params=q, data={"Listening-Configs": listening},
                      headers={"Long-Pulling-Timeout": "30000", "Long-Pulling-Timeout-No-Hangup": "true"}, timeout=10)
    assert (r.status_code, r.text) == (200, "") and time.monotonic() - t0 < 5
    # without Long-Pulling-Timeout: a plain comparison
    r = requests.post(cs + "/listener", params=q, data={"Listening-Configs": f"lp\x02G\x02{md5('x')}\x01"})
    assert urllib.parse.unquote_plus(r.text.strip()) == "lp\x02G\x01"
    # held listeners are answered by a publish (4-field key keeps its tenant)
    results = []

    def listen():
        results.append(requests.post(cs + "/listener", params=q, data={"Listening-Configs": listening},
                                     headers={"Long-Pulling-Timeout": "30000"}, timeout=40))

    threads = [threading.Thread(target=listen) for _ in range(20)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    requests.post(cs, params=q, data={"dataId": "lp2", "group": "G", "tenant": "dev", "content": "w2"})
    for t in threads:
        t.join(40)
    assert time.monotonic() - t0 < 5
    assert len(results) == 20
    assert {urllib.parse.unquote_plus(r.text.strip()) for r in results} == {"lp2\x02G\x02dev\x01"}
    assert {r.headers["Content-Length"] for r in results} == {str(len(results[0].content))}
    assert {r.headers["Content-Type"] for r in results} == {"text/html; charset=utf-8"}
    # beta: the listener of a client in betaIps sees the beta md5
    r = requests.post(cs, params=q, data={"dataId": "lp", "group": "G", "content": "beta!"},
                      headers={"betaIps": "127.0.0.1"})
    assert r.text == "true"
    assert requests.get(cs, params={**q, "dataId": "lp", "group": "G"}).text == "beta!"
    r = requests.post(cs + "/listener", params=q, data={"Listening-Configs": f"lp\x02G\x02{md5('v1')}\x01"},
                      headers={"Long-Pulling-Timeout": "30000"}, timeout=10)
    assert urllib.parse.unquote_plus(r.text.strip()) == "lp\x02G\x01"
    assert requests.delete(cs, params={**q, "dataId": "lp", "group": "G", "beta": "true"}).text == "true"
    assert requests.get(cs, params={**q, "dataId": "lp", "group": "G"}).text == "v1"


def test_bad_listener_input(nacos):
    base, tok = nacos
    r = requests.post(base + "/cs/configs/listener", params={"accessToken": tok},
                      data={"Listening-Configs": "only\x02two\x01"}, headers={"Long-Pulling-Timeout": "1000"})
    assert r.status_code == 400
