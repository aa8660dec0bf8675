"""Push to first step: 50 signed webhook deliveries to a `shipway serve` this script starts (own /tmp data dir,
own supervised ZooKeeper and registry), time from the POST to the first step's process starting.

The step prints `date +%s%N` as its first action, so the end point is the step process itself (same host clock).
Deliveries are sent one after another (each waits for its step) so the figure is latency, not queueing.
Reference: Jenkins' default quiet period is 5 s (documented constant, not measured here); the HTTP round trip
of GET /healthz is measured in the same run as the floor.
Run: .venv/bin/python bench/pipelines_push_latency.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.gitrepo import GitRepo  # noqa: E402
from support.server import LiveServer  # noqa: E402

N = 50
SECRET = "bench-webhook-secret-0123456789"
PIPELINE = "stages:\n  - name: first\n    steps:\n      - run: 'date +%s%N'\n"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shipway-bench-push-"))
    git = GitRepo(tmp / "git")
    sha = git.commit({".shipway.yml": PIPELINE}, "bench pipeline")
    git.push()
    server = LiveServer(tmp / "serve").start(timeout=120)
    try:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {server.admin_token()}"
        r = s.post(f"{server.url}/api/v1/projects", json={"name": "bench", "repo_url": git.url, "branches": ["main"],
                                                           "webhook_secret": SECRET}, timeout=10)
        r.raise_for_status()
        hook = requests.Session()
        lat, floor, answered = [], [], []
        for _ in range(50):  # the floor on the idle server: a signed-in GET round trip
            t1 = time.perf_counter()
            hook.get(f"{server.url}/healthz", timeout=5)
            floor.append((time.perf_counter() - t1) * 1000)
        for i in range(N + 1):  # the first delivery warms the git cache and is not counted
            body = json.dumps({"ref": "refs/heads/main", "after": sha, "message": f"bench {i}",
                               "repository": {"name": "bench/app", "clone_url": git.url}}).encode()
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "X-Shipway-Event": "push",
                       "X-Shipway-Delivery": f"bench-{i}-{time.time_ns()}", "X-Shipway-Signature": sig}
            t0 = time.time_ns()
            resp = hook.post(f"{server.url}/webhooks/generic/bench", data=body, headers=headers, timeout=10)
            answered.append((time.time_ns() - t0) / 1e6)
            assert resp.status_code == 202, resp.text
            run_id = resp.json()["runs"][0]["id"]
            deadline = time.monotonic() + 30
            stamp = None
            while time.monotonic() < deadline:
                text = s.get(f"{server.url}/api/v1/runs/{run_id}/logs?format=text", timeout=5).text
                lines = [ln for ln in text.splitlines() if ln.isdigit() and len(ln) >= 18]
                if lines:
                    stamp = int(lines[0])
                    break
                time.sleep(0.02)
            assert stamp, f"run {run_id} never started its step"
            if i:
                lat.append((stamp - t0) / 1e6)
        print(f"push to first step over {N} signed webhook deliveries: p50 {pct(lat, 50):.1f} ms, "
              f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms (mean {statistics.mean(lat):.1f} ms)")
        print(f"webhook answered 202 after p50 {pct(answered, 50):.1f} ms, p99 {pct(answered, 99):.1f} ms")
        print(f"reference: Jenkins default quiet period 5000 ms; HTTP round trip floor (GET /healthz, idle server) p50 "
              f"{pct(floor, 50):.1f} ms; target p99 <= 100 ms")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
