"""Config push latency: publish through the REST API → SDK watch callback, for 1,000 watches.

Starts a real ``shipway serve`` (own data dir under /tmp, own local ZooKeeper; stopped at the end) and
10 SDK watcher processes. Each process opens ``--sessions`` ZooKeeper sessions (default 1: one
``ConfigClient`` per app, as an app uses the SDK) and spreads its watches over them (several callbacks
per client). The publisher stamps ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process of
the machine) just before each ``PUT /api/v1/configs/...`` (sent on a kept-alive ``http.client``
connection); each callback stamps its arrival. Reported: p50, p99, max over every (watch, version)
pair, missed updates and watches that missed the final version, and the publish call's own duration.

Reference (the floor), measured SIDE BY SIDE: 10 more processes with the same session/callback layout,
each with one raw kazoo ``DataWatch`` per session on a znode set directly with ``kazoo.set``, whose
callback calls that session's callbacks (one ZooKeeper notification plus one read per session — what
the SDK does too). Raw sets and REST publishes alternate ``--gap`` s apart, so both see the same machine
load. Then (``--no-per-watch`` skips it) one raw ``DataWatch`` per watch, for comparison.
Targets: p99 ≤ 1.5 × the floor's p99 and ≤ 100 ms; zero missed final versions.

    .venv/bin/python bench/config_push_latency.py [--watches 1000] [--procs 10] [--publishes 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA_ID = "bench.push"
RAW_PATH = "/bench-raw/push"


def worker(mode: str, zk: str, sessions: int, watches: int) -> None:
    """Arm ``watches`` callbacks over ``sessions`` sessions, print READY, record until stdin closes."""
    records: list[tuple[int, int, float]] = []
    lock = threading.Lock()
    got_initial: set[int] = set()
    clients = []

    def make_cb(cb_id: int):
        def cb(version: int) -> None:
            now = time.monotonic()
            with lock:
                if cb_id not in got_initial:
                    got_initial.add(cb_id)
                else:
                    records.append((cb_id, version, now))
        return cb

    per = [watches // sessions + (1 if i < watches % sessions else 0) for i in range(sessions)]
    cb_id = 0
    if mode == "sdk":
        from shipway.config_center import ConfigClient
        for n in per:
            c = ConfigClient(zk=zk, snapshot_dir=None, connect_timeout=30).start()
            clients.append(c)
            for _ in range(n):
                f = make_cb(cb_id)
                c.watch(DATA_ID, "DEFAULT_GROUP", lambda v, f=f: f(v.version))
                cb_id += 1
    elif mode == "raw":  # one kazoo DataWatch per watch
        from kazoo.client import KazooClient
        from kazoo.recipe.watchers import DataWatch
        for n in per:
            c = KazooClient(zk)
            c.start(30)
            clients.append(c)
            for _ in range(n):
                f = make_cb(cb_id)
                DataWatch(c, RAW_PATH, lambda data, stat, f=f: f(int(data)) if data is not None else None)
                cb_id += 1
    else:  # "floor": one kazoo DataWatch per session, fanned out to that session's callbacks
        from kazoo.client import KazooClient
        from kazoo.recipe.watchers import DataWatch
        for n in per:
            c = KazooClient(zk)
            c.start(30)
            clients.append(c)
            fs = [make_cb(cb_id + k) for k in range(n)]
            cb_id += n

            def fan(data, stat, fs=fs):
                if data is not None:
                    for f in fs:
                        f(int(data))
            DataWatch(c, RAW_PATH, fan)
    deadline = time.monotonic() + 60
    while len(got_initial) < watches and time.monotonic() < deadline:
        time.sleep(0.01)
    print("READY", flush=True)
    sys.stdin.read()  # the parent closes stdin when done
    with lock:
        print(json.dumps(records), flush=True)
    for c in clients:
        if mode == "sdk":
            c.close()
        else:
            c.stop()
            c.close()


def start_workers(mode: str, serve, args) -> tuple[list[subprocess.Popen], list[int]]:
    per_proc = [args.watches // args.procs + (1 if i < args.watches % args.procs else 0) for i in range(args.procs)]
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", mode, "--zk", serve.zk,
                               "--sessions", str(args.sessions), "--watches", str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for n in per_proc]
    return procs, per_proc


def wait_ready(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        line = p.stdout.readline()
        assert line.strip() == "READY", f"worker failed: {line!r}"


def collect(procs: list[subprocess.Popen], per_proc: list[int], starts: dict[int, float],
            watches: int) -> tuple[list[float], int, int]:
    """Latencies of every (watch, version) pair, missed updates, watches that missed the final version."""
    latencies: list[float] = []
    received = 0
    final = max(starts)
    missed_final = 0
    for p, n_cb in zip(procs, per_proc):
        out, _ = p.communicate("", timeout=60)
        records = json.loads(out.strip().splitlines()[-1])
        last: dict[int, int] = {}
        for cb_id, version, ts in records:
            if version in starts:
                latencies.append((ts - starts[version]) * 1000)
                received += 1
            last[cb_id] = max(last.get(cb_id, 0), version)
        missed_final += sum(1 for c in range(n_cb) if last.get(c) != final)
    return latencies, watches * len(starts) - received, missed_final


class Publisher:
    """Publishes through the REST API on one kept-alive ``http.client`` connection (a light client, so
    that the measured time is the server's, not the client library's), or sets the raw znode."""

    def __init__(self, serve) -> None:
        import http.client

        from kazoo.client import KazooClient

        self.serve = serve
        self.http = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
        self.kz = KazooClient(serve.zk)
        self.kz.start(30)
        self.call_ms: list[float] = []
        self.raw_ms: list[float] = []

    def rest(self, i: int) -> tuple[int, float]:
        body = json.dumps({"content": f"n={i}"}).encode()
        t0 = time.monotonic()
        self.http.request("PUT", f"/api/v1/configs/public/DEFAULT_GROUP/{DATA_ID}", body=body,
                          headers={**self.serve.auth, "Content-Type": "application/json"})
        r = self.http.getresponse()
        data = r.read()
        self.call_ms.append((time.monotonic() - t0) * 1000)
        if r.status >= 300:
            raise SystemExit(f"publish failed: {r.status} {data[:300]!r}")
        return json.loads(data)["version"], t0

    def raw(self, version: int) -> tuple[int, float]:
        t0 = time.monotonic()
        self.kz.set(RAW_PATH, str(version).encode())
        self.raw_ms.append((time.monotonic() - t0) * 1000)
        return version, t0

    def close(self) -> None:
        self.http.close()
        self.kz.stop()
        self.kz.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--zk")
    ap.add_argument("--sessions", type=int, default=1, help="ZooKeeper sessions (SDK clients) per process")
    ap.add_argument("--watches", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=10)
    ap.add_argument("--publishes", type=int, default=20)
    ap.add_argument("--gap", type=float, default=0.3)
    ap.add_argument("--per-watch", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure one raw DataWatch per watch (run after the side-by-side part)")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.zk, args.sessions, args.watches)
        return
    import requests
    from kazoo.client import KazooClient

    from config_support import Serve, pct, summary

    with Serve() as serve:
        requests.put(f"{serve.url}/api/v1/configs/public/DEFAULT_GROUP/{DATA_ID}", json={"content": "n=start"},
                     headers=serve.auth, timeout=30).raise_for_status()
        kz = KazooClient(serve.zk)
        kz.start(30)
        kz.ensure_path(RAW_PATH)
        kz.set(RAW_PATH, b"999")
        kz.stop()
        kz.close()
        print(f"{args.watches} watches over {args.procs} processes × {args.sessions} ZooKeeper sessions each, for "
              f"ours and for the floor at the same time; {args.publishes} publishes each, alternating, "
              f"{args.gap:.2f} s apart")
        pub = Publisher(serve)
        floor_w = start_workers("floor", serve, args)
        sdk_w = start_workers("sdk", serve, args)
        wait_ready(floor_w[0])
        wait_ready(sdk_w[0])
        floor_starts: dict[int, float] = {}
        sdk_starts: dict[int, float] = {}
        for i in range(args.publishes):
            v, t0 = pub.raw(1_000 + i)
            floor_starts[v] = t0
            time.sleep(args.gap)  # spacing: each push is handled alone
            v, t0 = pub.rest(i)
            sdk_starts[v] = t0
            time.sleep(args.gap)
        time.sleep(1.5)
        raw_call_ms = list(pub.raw_ms)  # the side-by-side raw sets only
        floor, floor_missed, floor_final = collect(*floor_w, floor_starts, args.watches)
        ours, missed, missed_final = collect(*sdk_w, sdk_starts, args.watches)
        raw = None
        if args.per_watch:
            raw_w = start_workers("raw", serve, args)
            wait_ready(raw_w[0])
            raw_starts: dict[int, float] = {}
            for i in range(args.publishes):
                v, t0 = pub.raw(2_000 + i)
                raw_starts[v] = t0
                time.sleep(args.gap)
            time.sleep(1.5)
            raw, raw_missed, raw_final = collect(*raw_w, raw_starts, args.watches)
        pub.close()
        print(f"  raw kazoo, 1 DataWatch per session fanned out (floor): {summary(floor)}  missed {floor_missed}, "
              f"missed final {floor_final}")
        if raw is not None:
            print(f"  raw kazoo, 1 DataWatch per watch (run after):        {summary(raw)}  missed {raw_missed}, "
                  f"missed final {raw_final}")
        print(f"  shipway SDK (REST publish → callback):                 {summary(ours)}  missed {missed}, "
              f"missed final {missed_final}")
        print(f"  the REST publish call itself (PUT round trip):          {summary(pub.call_ms)}")
        print(f"  the raw kazoo set call itself:                          {summary(raw_call_ms)}")
        print(f"  p50 ratio ours/floor = {pct(ours, 50) / pct(floor, 50):.2f}; "
              f"p99 ratio ours/floor = {pct(ours, 99) / pct(floor, 99):.2f} (target ≤ 1.5); "
              f"ours p99 {pct(ours, 99):.1f} ms (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
