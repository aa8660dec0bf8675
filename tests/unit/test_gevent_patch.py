"""What ``shipway serve`` adjusts after gevent's monkey-patching (shipway.server.gevent_patch)."""

import subprocess
import sys

SCRIPT = r'''
from gevent import monkey; monkey.patch_all()
from shipway.server.gevent_patch import after_monkey_patch
after_monkey_patch()
import threading
from gevent import monkey as m
from prometheus_client import CollectorRegistry, Counter
reg = CollectorRegistry()
c = Counter("shipway_test_total", "t", ["k"], registry=reg)
c.labels("a").inc(2)
lock = c.labels("a")._value._lock
print(type(lock) is type(m.get_original("threading", "Lock")()), type(lock) is not type(threading.Lock()),
      reg.get_sample_value("shipway_test_total", {"k": "a"}))
'''


def test_metric_values_get_os_locks_under_gevent(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "2.0"]
