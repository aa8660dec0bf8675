"""kazoo's select under gevent (shipway.core.zk_gevent): ready, waiting, timing out, and above fd 1024."""

import json
import subprocess
import sys

SCRIPT = r'''
from gevent import monkey; monkey.patch_all()
import json, os, resource, socket, time
import gevent
from shipway.core import zk_gevent

assert zk_gevent.handler() is not None
out = {}
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 2100:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
for where in ("low", "high"):
    a, b = socket.socketpair()
    r, w = os.pipe()
    if where == "high":  # a busy server's ZooKeeper socket can be above select(2)'s limit
        a2 = socket.socket(fileno=os.dup2(a.fileno(), 2000))
        r = os.dup2(r, 2001)
        a.detach()
        a = a2
    res = {}
    t0 = time.monotonic()
    res["timeout"] = [zk_gevent.select([a, r], [], [], 0.05), round(time.monotonic() - t0, 2)]
    b.send(b"x")
    res["ready"] = zk_gevent.select([a, r], [], [], 1.0)[0] == [a]
    a.recv(10)
    ticks = []
    gevent.spawn(lambda: (ticks.append(1), os.write(w, b"y")))
    res["woken"] = zk_gevent.select([a, r], [], [], 5.0)[0] == [r]
    res["others ran"] = ticks == [1]
    res["writable"] = zk_gevent.select([], [a], [], 1.0)[1] == [a]
    out[where] = {k: v if k != "timeout" else [[list(x) for x in v[0]], v[1]] for k, v in res.items()}
print(json.dumps(out))
'''


def test_select_for_kazoo_under_gevent(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for where in ("low", "high"):
        res = out[where]
        assert res["timeout"][0] == [[], [], []] and res["timeout"][1] >= 0.04, (where, res)
        assert res["ready"] and res["woken"] and res["others ran"] and res["writable"], (where, res)


def test_no_special_handler_without_gevent():
    from shipway.core import zk_gevent
    r = subprocess.run([sys.executable, "-c", "from shipway.core import zk_gevent; print(zk_gevent.handler())"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "None", r.stderr
    assert json.dumps(zk_gevent.FD_SETSIZE) == "1024"


RESULTS = r'''
from gevent import monkey; monkey.patch_all()
import json
import gevent
from kazoo.handlers.threading import KazooTimeoutError
from shipway.core import zk_gevent

h = zk_gevent.handler()
out = {}
r = h.async_result()
for name, call in (("nowait", lambda: r.get_nowait()), ("non-blocking", lambda: r.get(block=False)),
                   ("timeout", lambda: r.get(timeout=0.05))):
    try:
        call()
        out[name] = "returned"
    except KazooTimeoutError:
        out[name] = "timeout"
seen = []
r.rawlink(lambda res: seen.append(res.get_nowait()))
gevent.spawn_later(0.01, r.set, 42)
out["value"] = r.get(timeout=5)
gevent.sleep(0.01)
out["linked"] = seen
bad = h.async_result()
bad.set_exception(ValueError("no"))
try:
    bad.get()
except ValueError as e:
    out["exception"] = str(e)
ev = h.event_object()
out["event"] = [ev.wait(0.01), (ev.set(), ev.wait(0.01))[1]]
print(json.dumps(out))
'''


def test_async_results_behave_as_kazoo_expects(tmp_path):
    """gevent's own result objects, with kazoo's timeout exception where kazoo's threading result raises it."""
    r = subprocess.run([sys.executable, "-c", RESULTS], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"nowait": "timeout", "non-blocking": "timeout", "timeout": "timeout", "value": 42,
                   "linked": [42], "exception": "no", "event": [False, True]}
