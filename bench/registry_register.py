"""Registration throughput: SDK and HTTP API vs raw kazoo ephemeral ``create``/s (target ≥ 0.5× raw).

Against a ``shipway serve`` started here (own temp data dir, own local ZooKeeper). Sequential, one
registration at a time, distinct instances:

* raw: ``KazooClient.create(path, ephemeral=True)`` of a small JSON value — the floor;
* SDK: ``Discovery.register(...)`` (validated record, EPHEMERAL znode, waits for the confirmation);
* HTTP: ``POST /nacos/v1/ns/instance`` (form params + token, as Nacos clients send it), on a fresh
  connection per request and on one keep-alive connection.

    .venv/bin/python bench/registry_register.py [--count 500]
"""

from __future__ import annotations

import argparse
import json
import time

from registry_harness import Serve, form, http_call

from kazoo.client import KazooClient

from shipway.discovery import Discovery


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    n = ap.parse_args().count
    with Serve() as serve:
        raw = KazooClient(serve.zk, timeout=4)
        raw.start()
        raw.ensure_path("/bench/raw")
        value = json.dumps({"ip": "10.0.0.1", "port": 1, "weight": 1.0, "metadata": {}}).encode()
        for i in range(100):  # warm-up: the first creates pay for the server's JIT
            raw.create(f"/bench/raw/w{i}", value, ephemeral=True)
        t = time.perf_counter()
        for i in range(n):
            raw.create(f"/bench/raw/i{i}", value, ephemeral=True)
        raw_rate = n / (time.perf_counter() - t)

        sdk = Discovery(serve.zk, snapshot_dir="")
        sdk.register("bench-sdk", "10.0.0.1", 1)  # first one creates the parents
        t = time.perf_counter()
        for i in range(n):
            sdk.register("bench-sdk", f"10.1.{i // 250}.{i % 250}", 8000 + i % 1000)
        sdk_rate = n / (time.perf_counter() - t)

        http = serve.session()
        md = '{"shipway.health.check":"none"}'

        def post(session, name, ip):
            r = session.post(serve.url + "/nacos/v1/ns/instance", params={"accessToken": serve.token},
                             data={"serviceName": name, "ip": ip, "port": 8000, "ephemeral": "false", "metadata": md})
            assert r.status_code == 200, r.text

        post(http, "bench-http", "10.2.0.1")
        t = time.perf_counter()
        for i in range(n):
            post(http, "bench-http", f"10.3.{i // 250}.{i % 250}")
        keepalive_rate = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n):
            status, body = http_call(serve.port, "POST", "/nacos/v1/ns/instance", token=serve.token, body=form(
                serviceName="bench-http2", ip=f"10.4.{i // 250}.{i % 250}", port=8000, ephemeral="false",
                metadata=md))
            assert status == 200, body
        http_rate = n / (time.perf_counter() - t)
        sdk.close()
        raw.stop()
        raw.close()
    print(f"registrations: {n} each, sequential")
    print(f"  raw kazoo ephemeral create : {raw_rate:8.0f} /s   (reference)")
    print(f"  shipway SDK register       : {sdk_rate:8.0f} /s   = {sdk_rate / raw_rate:.2f}× raw  (target ≥ 0.5×)")
    print(f"  Nacos HTTP POST /instance  : {keepalive_rate:8.0f} /s   = {keepalive_rate / raw_rate:.2f}× raw  "
          "(keep-alive connection)")
    print(f"  same, a connection each    : {http_rate:8.0f} /s   = {http_rate / raw_rate:.2f}× raw")


if __name__ == "__main__":
    main()
