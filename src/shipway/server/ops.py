"""Operations endpoints and per-request plumbing.

* ``/healthz`` — the process answers.
* ``/readyz`` — each dependency checked separately (ZooKeeper session, store
  writable, Docker reachable, registry reachable, plus checks parts add);
  503 when any is down.
* ``/metrics`` — Prometheus text format.
* Every response carries ``X-Request-Id``; every request is counted and timed.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import itertools
import logging
import os
import time

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from shipway import __version__
from shipway.core import logs
from shipway.core.http import context, public

log = logging.getLogger("shipway.access")

REQUESTS = Counter("shipway_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("shipway_http_request_seconds", "HTTP request latency", ["method", "endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _check_zookeeper(ctx) -> None:
    if ctx.zk is None or not ctx.zk.connected:
        raise RuntimeError(f"no ZooKeeper session ({ctx.zk_hosts or 'not configured'})")
    ctx.zk.client.exists("/")


def _check_store(ctx) -> None:
    ctx.store.check_writable()


def _check_docker(ctx) -> None:
    ctx.docker.ping()


def _check_registry(ctx) -> None:
    if not ctx.registry_address:
        raise RuntimeError("no registry configured")
    host, _, port = ctx.registry_address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request("GET", "/v2/")
        status = conn.getresponse().status
    finally:
        conn.close()
    if status not in (200, 401):  # 401: a registry with auth is up
        raise RuntimeError(f"registry answered {status}")


def readiness(ctx, timeout: float = 3.0) -> tuple[bool, dict]:
    """Run every check in parallel; ``(all_ok, {name: {"ok", "error", "ms"}})``."""
    checks = {"zookeeper": lambda: _check_zookeeper(ctx), "store": lambda: _check_store(ctx),
              "docker": lambda: _check_docker(ctx), "registry": lambda: _check_registry(ctx),
              **ctx.health_checks}

    def run(fn):
        t0 = time.perf_counter()
        try:
            fn()
            return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1)}
        except Exception as e:  # noqa: BLE001 - every failure is a report, not a crash
            return {"ok": False, "error": str(e) or e.__class__.__name__,
                    "ms": round((time.perf_counter() - t0) * 1000, 1)}

    futures = {name: _pool.submit(run, fn) for name, fn in checks.items()}
    results = {}
    for name, fut in futures.items():
        try:
            results[name] = fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            results[name] = {"ok": False, "error": f"no answer within {timeout:.0f} s"}
    return all(r["ok"] for r in results.values()), results


_request_ids = itertools.count()
_id_prefix = os.urandom(6).hex()


def _reseed_request_ids() -> None:
    global _id_prefix, _request_ids
    _id_prefix, _request_ids = os.urandom(6).hex(), itertools.count()


os.register_at_fork(after_in_child=_reseed_request_ids)


def new_request_id() -> str:
    """A request id unique to this request: a random prefix per process and a counter (not a read of
    ``/dev/urandom`` per request; an id is a label in logs and headers, not a secret)."""
    return f"{_id_prefix}{next(_request_ids) & 0xFFFFFFFF:08x}"


def init_app(app: Flask) -> None:
    @app.before_request
    def _start():
        rid = request.headers.get("X-Request-Id", "")[:64] or new_request_id()
        g.request_id = rid
        g.token = logs.request_id.set(rid)
        g.t0 = time.perf_counter()

    @app.after_request
    def _finish(resp: Response):
        resp.headers["X-Request-Id"] = g.get("request_id", "-")
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - g.get("t0", time.perf_counter())
        REQUESTS.labels(request.method, endpoint, str(resp.status_code)).inc()
        LATENCY.labels(request.method, endpoint).observe(elapsed)
        if endpoint not in ("ops.healthz", "ops.metrics"):
            log.info("%s %s %s %.1fms", request.method, request.path, resp.status_code, elapsed * 1000)
        return resp

    @app.teardown_request
    def _reset(_exc):
        token = g.pop("token", None)
        if token is not None:
            logs.request_id.reset(token)

    @public
    def healthz():
        return jsonify({"status": "ok", "version": __version__})

    @public
    def readyz():
        ok, results = readiness(context())
        resp = jsonify({"status": "ready" if ok else "not ready", "checks": results})
        resp.status_code = 200 if ok else 503
        return resp

    @public
    def metrics():
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/healthz", "ops.healthz", healthz)
    app.add_url_rule("/readyz", "ops.readyz", readyz)
    app.add_url_rule("/metrics", "ops.metrics", metrics)
