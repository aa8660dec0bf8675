"""Webhook receive latency: signed GitHub push POST → 202 (run handed to the pipelines service).

Runs shipway's real app under its real gevent server in a child process (SQLite store in a temp dir,
a stand-in pipelines service that only records the call, as the real one only enqueues), and posts
N signed deliveries of the real GitHub fixture, each with a new delivery id. Reference, measured in
the same run on the same server: a trivial public POST view that reads the same body and answers 202
(the floor of the stack: routing, security, request ids, metrics, JSON). Also reports how many
duplicate deliveries (same id) started a run (must be 0).

    .venv/bin/python bench/webhook_receive.py [--count 300]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret-0123456789"


def child(port: int, data_dir: str) -> None:
    from gevent import monkey
    monkey.patch_all()
    from flask import jsonify, request

    from shipway.core.context import Context
    from shipway.core.http import csrf_exempt, public
    from shipway.core.settings import load_settings
    from shipway.server.app import create_app
    from shipway.server.wsgi import make_server

    ctx = Context.from_settings(load_settings({"data_dir": data_dir, "secret_key": "bench", "log_level": "error",
                                               "zk": "127.0.0.1:1", "registry": "127.0.0.1:1"}, env={}))
    ctx.store.create_all()
    app = create_app(ctx)

    class Pipelines:
        def __init__(self):
            self.keys = {}

        def start_run(self, project, *, event, trigger, params=None, requested_by=None, idempotency_key=None):
            if idempotency_key in self.keys:
                return dict(self.keys[idempotency_key], duplicate=True)
            n = len(self.keys) + 1
            run = self.keys[idempotency_key] = {"id": str(n), "number": n, "url": f"/runs/{n}",
                                                "status": "queued", "duplicate": False}
            return dict(run)

    ctx.services["pipelines"] = Pipelines()
    ctx.services["projects"].add("bench", "https://x.invalid/a.git", webhook_secret=SECRET)

    @app.post("/bench/floor")
    @public
    @csrf_exempt
    def floor():
        request.get_data()
        return jsonify({"status": "ok"}), 202

    @app.get("/bench/runs")
    @public
    def runs():
        return jsonify({"runs": len(ctx.services["pipelines"].keys)})

    make_server(app, "127.0.0.1", port).serve_forever()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--keepalive", action="store_true",
                    help="reuse one connection (default: a new connection per delivery, as forges do)")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1])
        return
    import requests

    from shipway.core.launcher import free_port

    body = (ROOT / "tests/fixtures/webhooks/github-push.json").read_bytes()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(port), tmp],
                                env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(base + "/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("bench server did not start")
                    time.sleep(0.1)
            s = requests.Session() if args.keepalive else requests

            def hook(delivery: str) -> float:
                t0 = time.perf_counter()
                r = s.post(base + "/webhooks/github/bench", data=body, timeout=10, headers={
                    "Content-Type": "application/json", "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig})
                assert r.status_code == 202, r.text
                return (time.perf_counter() - t0) * 1000

            def floor() -> float:
                t0 = time.perf_counter()
                r = s.post(base + "/bench/floor", data=body, timeout=10,
                           headers={"Content-Type": "application/json"})
                assert r.status_code == 202
                return (time.perf_counter() - t0) * 1000

            for _ in range(20):   # warm up both paths
                hook(str(uuid.uuid4()))
                floor()
            ours, ref = [], []
            for _ in range(args.count):   # interleaved so machine noise hits both alike
                ours.append(hook(str(uuid.uuid4())))
                ref.append(floor())
            before = s.get(base + "/bench/runs").json()["runs"]
            dup_id = str(uuid.uuid4())
            for _ in range(50):
                hook(dup_id)
            dup_runs = s.get(base + "/bench/runs").json()["runs"] - before
        finally:
            proc.terminate()
            proc.wait(10)
    how = "one kept-alive connection" if args.keepalive else "a new connection each"
    print(f"webhook receive, {args.count} signed GitHub push deliveries, {how} (POST → 202 with run URL):")
    print(f"  shipway /webhooks/github   p50 {statistics.median(ours):6.2f} ms   p99 {pct(ours, 99):6.2f} ms")
    print(f"  reference trivial POST     p50 {statistics.median(ref):6.2f} ms   p99 {pct(ref, 99):6.2f} ms")
    print(f"  ratio p50 {statistics.median(ours) / statistics.median(ref):.2f}x   "
          f"(Jenkins' default quiet period before a build: 5000 ms)")
    print(f"  50 deliveries of one delivery id started {dup_runs} run(s) (expected 1)")


if __name__ == "__main__":
    main()
