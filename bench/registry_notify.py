"""Change notification: 10 subscriber processes, time from a change to every subscriber's callback.

Against the local ZooKeeper of a ``shipway serve`` started here. Each subscriber process holds both a
``Discovery.subscribe`` on a service and, as the floor, a raw kazoo ``ChildrenWatch`` on a plain
znode. The driver makes ``--changes`` changes of each kind, one at a time, waiting until every
subscriber has reported it: an SDK registration (``Discovery.register``) and a raw ephemeral
``create``. Latency = subscriber's wall clock at the callback − driver's wall clock just before the
change (same machine). Target: SDK p99 ≤ 1.5× the raw floor's p99.

A subscriber needs one ``get_children`` per change, like the floor: the host znode's name carries
the instance (see ``shipway.registry.layout``). The "ChildrenWatch + get" line is what the layout
before it needed (a read of the new instance's data after the children).

    .venv/bin/python bench/registry_notify.py [--subscribers 10] [--changes 200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

from registry_harness import Serve, pct

SUBSCRIBER = r"""
import sys, threading, time
_lock = threading.Lock()
def out(line):  # one write per line: the SDK's and the raw client's threads print concurrently
    with _lock:
        sys.stdout.write(line + "\n"); sys.stdout.flush()
from kazoo.client import KazooClient
from shipway.discovery import Discovery
zk, snap = sys.argv[1], sys.argv[2]
seen_sdk, seen_raw = set(), set()
def on_sdk(insts):
    now = time.time()
    for i in insts:
        if i["port"] not in seen_sdk:
            seen_sdk.add(i["port"]); out(f"sdk {i['port']} {now}")
d = Discovery(zk, snapshot_dir=snap)
d.subscribe("bench-notify", on_sdk)
raw = KazooClient(zk, timeout=4); raw.start(); raw.ensure_path("/bench/floor")
def on_raw(children):
    now = time.time()
    for c in children:
        if c not in seen_raw:
            seen_raw.add(c); out(f"raw {c} {now}")
raw.ChildrenWatch("/bench/floor", on_raw)
raw.ensure_path("/bench/floor2")
seen_data = set()
def on_raw_data(children):
    for c in children:
        if c not in seen_data:
            raw.get("/bench/floor2/" + c)
            seen_data.add(c); out(f"rawdata {c} {time.time()}")
raw.ChildrenWatch("/bench/floor2", on_raw_data)
out("ready")
sys.stdin.read()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--changes", type=int, default=200)
    args = ap.parse_args()
    from kazoo.client import KazooClient
    from shipway.discovery import Discovery

    with Serve() as serve:
        procs = [subprocess.Popen([sys.executable, "-c", SUBSCRIBER, serve.zk, str(serve.dir / f"snap{i}")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for i in range(args.subscribers)]
        seen: dict[tuple[str, str], list[float]] = {}
        cond = threading.Condition()

        def reader(p):
            for line in p.stdout:
                parts = line.split()
                with cond:
                    if parts[0] == "ready":
                        seen.setdefault(("ready", ""), []).append(0)
                    else:
                        seen.setdefault((parts[0], parts[1]), []).append(float(parts[2]))
                    cond.notify_all()

        for p in procs:
            threading.Thread(target=reader, args=(p,), daemon=True).start()

        def wait_all(key, timeout=30.0):
            with cond:
                if not cond.wait_for(lambda: len(seen.get(key, [])) >= args.subscribers, timeout):
                    raise RuntimeError(f"not every subscriber saw {key}: {len(seen.get(key, []))}")

        wait_all(("ready", ""), 60)
        raw = KazooClient(serve.zk, timeout=4)
        raw.start()
        driver = Discovery(serve.zk, snapshot_dir="")
        lat = {"raw": [], "rawdata": [], "sdk": []}
        try:
            for k in range(args.changes):
                for kind in ("raw", "rawdata", "sdk"):  # interleaved: all see the same machine load
                    t0 = time.time()
                    if kind == "raw":
                        raw.create(f"/bench/floor/c{k}", b"{}", ephemeral=True)
                        key = ("raw", f"c{k}")
                    elif kind == "rawdata":
                        raw.create(f"/bench/floor2/c{k}", b"{}", ephemeral=True)
                        key = ("rawdata", f"c{k}")
                    else:
                        driver.register("bench-notify", "10.0.0.1", 10000 + k, wait=0)
                        key = ("sdk", str(10000 + k))
                    wait_all(key)
                    lat[kind].extend((t - t0) * 1000 for t in seen[key])
                    time.sleep(0.05)
        finally:
            driver.close()
            raw.stop()
            raw.close()
            for p in procs:
                p.stdin.close()
                p.kill()
                p.wait()
    print(f"change → callback in every one of {args.subscribers} subscriber processes, {args.changes} changes each")
    for kind, label in (("raw", "raw kazoo ChildrenWatch (floor)"),
                        ("rawdata", "raw ChildrenWatch + get of new child"),
                        ("sdk", "shipway Discovery.subscribe")):
        v = lat[kind]
        print(f"  {label:37s}: p50 {pct(v, 50):6.1f} ms   p99 {pct(v, 99):6.1f} ms   max {max(v):6.1f} ms")
    print(f"  SDK p99 / ChildrenWatch p99 = {pct(lat['sdk'], 99) / pct(lat['raw'], 99):.2f}  (target ≤ 1.5); "
          f"p50s: {pct(lat['sdk'], 50) / pct(lat['raw'], 50):.2f}; "
          f"SDK p99 / (ChildrenWatch + get) p99 = {pct(lat['sdk'], 99) / pct(lat['rawdata'], 99):.2f}")
    print("  (every subscriber sees the same change, so a p99 is the slowest few changes: one stall of the "
          "shared machine or of ZooKeeper's fsync moves it; compare several runs)")


if __name__ == "__main__":
    main()
