"""Zero-downtime rolling updates under a steady load through the Service, with fast start probing on."""

from __future__ import annotations

import threading
import time

import requests

from support.waiting import wait_for

from .conftest import web_manifest


class Load:
    """A bounded load (about 40 requests/s, one new connection each) on a Service port, counting failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ok = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                r = requests.get(f"http://127.0.0.1:{self.port}/index.html", timeout=3,
                                 headers={"Connection": "close"})
                if r.status_code == 200:
                    self.ok += 1
                else:
                    self.failed.append(f"HTTP {r.status_code}")
            except requests.RequestException as e:
                self.failed.append(e.__class__.__name__)
            self.stop.wait(0.025)

    def __enter__(self) -> "Load":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def _rollout(kube, annotation: str) -> None:
    kube.kubectl("patch", "deployment", "web", "-p",
                 '{"spec":{"template":{"metadata":{"annotations":{"rev":"%s"}}}}}' % annotation)
    kube.wait_rollout("web")


def test_rolling_updates_under_load_fail_no_request(kube):
    kube.kubectl("apply", "-f", "-", input=web_manifest(replicas=2))
    kube.wait_rollout("web")
    port = kube.json("get", "svc", "web")["spec"]["ports"][0]["nodePort"]
    wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/index.html", timeout=2).ok, 20,
             message="the Service answering")
    with Load(port) as load:
        # maxSurge 1 / maxUnavailable 0 (one pod at a time), then every new pod at once (the example's way).
        _rollout(kube, "2")
        kube.kubectl("patch", "deployment", "web", "-p",
                     '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"100%","maxUnavailable":0}}}}')
        kube.wait_rollout("web")
        _rollout(kube, "3")
        time.sleep(1.5)  # the old pods' drain and stop happen after the rollout is reported complete
    assert load.ok > 50, load.ok
    assert load.failed == [], f"{len(load.failed)} failed of {load.ok + len(load.failed)}: {load.failed[:5]}"
    rss = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r["spec"]["replicas"]
           for r in kube.json("get", "rs")["items"]}
    assert rss == {"1": 0, "2": 0, "3": 2}, rss
