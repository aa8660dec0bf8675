"""Registration throughput: SDK and HTTP API vs raw kazoo ephemeral ``create``/s (target ≥ 0.5× raw).

Against a ``shipway serve`` started here (own temp data dir, own local ZooKeeper). Distinct instances
each time. Two rounds, each printing ours beside the reference measured the same way:

* **sequential** (one client, one registration at a time):
  raw ``KazooClient.create(path, ephemeral=True)`` of a small JSON value — the floor;
  SDK ``Discovery.register(...)`` (validated record; record + host znode in one transaction);
  Nacos HTTP ``POST /nacos/v1/ns/instance`` (form params + token, as Nacos clients send it; a
  light ``http.client`` client, so the figure is the server's) on one keep-alive connection — persistent (``ephemeral=false``) and Nacos's default heartbeat
  instance (``ephemeral=true``) — and on a fresh connection per request;
* **concurrent** (``--workers`` client processes at once, the same number for reference and ours):
  each raw worker has its own kazoo client doing sequential creates; each HTTP worker its own
  keep-alive connection doing sequential POSTs. Rate = all registrations / wall time of the round.

Nothing is measured before every path has been warmed (ZooKeeper is a JVM: a cold one spends twice the CPU
per write, and the first kind measured would pay for it): 4,000 raw creates, 200 SDK and 200 HTTP
registrations, and one unmeasured concurrent round of each. The concurrent comparison is the median of
three interleaved rounds.

An HTTP registration is an HTTP round trip *plus* the ZooKeeper transaction, so sequentially it
cannot reach the raw rate; with the same client concurrency the server overlaps the two.

    .venv/bin/python bench/registry_register.py [--count 500] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from registry_harness import KeepAlive, Serve, form, http_call

from kazoo.client import KazooClient

from shipway.discovery import Discovery

WARM_RAW = 4000   # raw creates before anything is measured (see the warm-up in main)
WARM_EACH = 200   # SDK and HTTP registrations likewise

WORKER = r"""
import sys, time
mode, target, token, n, wid, rnd = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
if mode == "raw":
    from kazoo.client import KazooClient
    zk = KazooClient(target, timeout=4); zk.start(); zk.ensure_path("/bench/conc")
    for i in range(20):
        zk.create(f"/bench/conc/w{rnd}-{wid}-{i}", b"{}", ephemeral=True)
    def one(i):
        zk.create(f"/bench/conc/{rnd}-{wid}-{i}", b'{"ip":"10.0.0.1","port":1,"weight":1.0,"metadata":{}}', ephemeral=True)
else:
    sys.path.insert(0, sys.argv[7])
    from registry_harness import KeepAlive, form
    conn = KeepAlive(int(target), token)
    md = '{"shipway.health.check":"none"}'
    def one(i, svc="bench-conc"):
        status, body = conn.call("POST", "/nacos/v1/ns/instance", form(
            serviceName=svc, ip=f"10.{50 + 10 * (ord(rnd) - 97) + wid}.{i // 250}.{i % 250}", port=8000,
            ephemeral="false", metadata=md))
        assert status == 200, body
    for i in range(20):
        one(i, "bench-conc-warm")
print("ready", flush=True)
sys.stdin.readline()
t0 = time.time()
for i in range(n):
    one(i)
print(f"done {t0} {time.time()}", flush=True)
if mode == "raw":
    sys.stdin.readline()  # keep the session (and its ephemeral nodes) until the round is over
    zk.stop(); zk.close()
"""


def concurrent(mode: str, target: str, token: str, total: int, workers: int, rnd: str) -> float:
    """Registrations/s of ``workers`` client processes together."""
    per = total // workers
    here = str(Path(__file__).resolve().parent)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, mode, target, token or "-", str(per), str(w), rnd, here],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for w in range(workers)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"{mode} worker did not start")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        spans = []
        for p in procs:
            line = p.stdout.readline().split()
            if not line or line[0] != "done":
                raise RuntimeError(f"{mode} worker failed")
            spans.append((float(line[1]), float(line[2])))
        return per * workers / (max(e for _, e in spans) - min(s for s, _ in spans))
    finally:
        for p in procs:
            try:
                p.stdin.close()
            except OSError:
                pass
            p.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    n = args.count
    with Serve() as serve:
        raw = KazooClient(serve.zk, timeout=4)
        raw.start()
        raw.ensure_path("/bench/raw")
        value = json.dumps({"ip": "10.0.0.1", "port": 1, "weight": 1.0, "metadata": {}}).encode()
        sdk = Discovery(serve.zk, snapshot_dir="")
        conn = KeepAlive(serve.port, serve.token)
        md = '{"shipway.health.check":"none"}'
        # Heartbeat instances that nobody beats: long timeouts (Nacos's preserved.* keys), so the
        # server's timers do not expire hundreds of them in the middle of the later rounds.
        md_eph = '{"preserved.heart.beat.timeout":"600000","preserved.ip.delete.timeout":"600000"}'

        def ip(i: int, net: int) -> str:
            return f"10.{net}.{i // 250}.{i % 250}"

        def post(name, addr, ephemeral="false"):
            status, body = conn.call("POST", "/nacos/v1/ns/instance", form(
                serviceName=name, ip=addr, port=8000, ephemeral=ephemeral,
                metadata=md_eph if ephemeral == "true" else md))
            assert status == 200, body

        def healthz(_i):
            status, body = conn.call("GET", "/healthz")
            assert status == 200, body

        def post_fresh(i):
            status, body = http_call(serve.port, "POST", "/nacos/v1/ns/instance", token=serve.token, body=form(
                serviceName="bench-http2", ip=ip(i, 4), port=8000, ephemeral="false", metadata=md))
            assert status == 200, body

        kinds = {
            "raw": lambda i: raw.create(f"/bench/raw/i{i}", value, ephemeral=True),
            "sdk": lambda i: sdk.register("bench-sdk", ip(i, 1), 8000),
            "http": lambda i: post("bench-http", ip(i, 3)),
            "http_eph": lambda i: post("bench-http-eph", ip(i, 5), ephemeral="true"),
            "http_conn": post_fresh,
            "healthz": healthz,
        }
        # Warm-up, not measured: ZooKeeper is a JVM, and its first few thousand writes run through the
        # interpreter and the JIT (a cold ZooKeeper spent 0.45 ms of CPU per create, a warm one 0.20 ms:
        # whatever runs first would be measured against a slower server). Each kind's paths are warmed.
        for i in range(WARM_RAW):
            raw.create(f"/bench/raw/w{i}", value, ephemeral=True)
        for i in range(WARM_EACH):
            sdk.register("bench-sdk-warm", ip(i, 2), 8000)
            post("bench-http-warm", ip(i, 2))
        concurrent("raw", serve.zk, "", WARM_RAW, args.workers, "w")
        concurrent("http", str(serve.port), serve.token, WARM_RAW // 2, args.workers, "d")
        # Interleaved in rounds, so that every kind sees the same (drifting) machine load.
        elapsed = dict.fromkeys(kinds, 0.0)
        rounds, done = 5, 0
        for _ in range(rounds):
            for kind, one in kinds.items():
                t = time.perf_counter()
                for i in range(done, done + n // rounds):
                    one(i)
                elapsed[kind] += time.perf_counter() - t
            done += n // rounds
        rate = {kind: done / elapsed[kind] for kind in kinds}
        raw_rate, sdk_rate, keepalive_rate = rate["raw"], rate["sdk"], rate["http"]
        ephemeral_rate, http_rate, healthz_rate = rate["http_eph"], rate["http_conn"], rate["healthz"]
        conn.close()
        sdk.close()
        raw.stop()
        raw.close()

        total = n * 4
        conc_raw, conc_http = [], []
        # Interleaved: the load drifts. A round's letter picks its znode names (raw) or its 10.x address
        # range (HTTP), so every round registers new instances.
        for raw_round, http_round in zip("abc", "hij"):
            conc_raw.append(concurrent("raw", serve.zk, "", total, args.workers, raw_round))
            conc_http.append(concurrent("http", str(serve.port), serve.token, total, args.workers, http_round))
    print(f"registrations, sequential ({done} each, interleaved in {rounds} rounds):")
    print(f"  raw kazoo ephemeral create : {raw_rate:8.0f} /s   (reference)")
    print(f"  shipway SDK register       : {sdk_rate:8.0f} /s   = {sdk_rate / raw_rate:.2f}× raw  (target ≥ 0.5×)")
    print(f"  Nacos HTTP POST /instance  : {keepalive_rate:8.0f} /s   = {keepalive_rate / raw_rate:.2f}× raw  "
          "(keep-alive connection, persistent instance)")
    print(f"  same, Nacos default        : {ephemeral_rate:8.0f} /s   = {ephemeral_rate / raw_rate:.2f}× raw  "
          "(ephemeral=true: a heartbeat instance)")
    print(f"  same, a connection each    : {http_rate:8.0f} /s   = {http_rate / raw_rate:.2f}× raw")
    print(f"  (the server's HTTP floor, GET /healthz on the same connection: {healthz_rate:.0f} /s)")
    ref, ours = statistics.median(conc_raw), statistics.median(conc_http)
    print(f"registrations, {args.workers} client processes at once ({total} in all, median of {len(conc_raw)} "
          "interleaved rounds):")
    print(f"  raw kazoo ephemeral create : {ref:8.0f} /s   (reference; rounds: {_rates(conc_raw)})")
    print(f"  Nacos HTTP POST /instance  : {ours:8.0f} /s   = {ours / ref:.2f}× raw  (rounds: {_rates(conc_http)}; "
          "keep-alive connections, persistent instances)")


def _rates(xs: list[float]) -> str:
    return ", ".join(f"{x:.0f}" for x in xs)


if __name__ == "__main__":
    main()
