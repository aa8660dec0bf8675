"""Failure detection: ``kill -9`` a process holding a registration; time until every subscriber dropped it.

Against the local ZooKeeper of a ``shipway serve`` started here. A victim process registers with the
SDK (default session timeout, 4 s); ``--subscribers`` processes subscribe; the victim is killed with
SIGKILL and each subscriber reports when the instance left its cache. Repeated ``--rounds`` times.
Target ≤ 6 s. Reference: Nacos's documented defaults for its ephemeral (heartbeat) instances —
15 s to unhealthy, 30 s to removal (shipway's own HTTP heartbeat instances follow the same defaults).

    .venv/bin/python bench/registry_failure.py [--subscribers 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from registry_harness import Serve, pct

VICTIM = r"""
import sys, time
from shipway.discovery import Discovery
d = Discovery(sys.argv[1], snapshot_dir="")
d.register("bench-victim", "10.0.0.9", int(sys.argv[2]))
print("registered", flush=True)
time.sleep(3600)
"""

SUBSCRIBER = r"""
import sys, time
from shipway.discovery import Discovery
d = Discovery(sys.argv[1], snapshot_dir="")
present = set()
def cb(insts):
    now = time.time()
    ports = {i["port"] for i in insts}
    for p in ports - present:
        print(f"up {p} {now}", flush=True)
    for p in present - ports:
        print(f"down {p} {now}", flush=True)
    present.clear(); present.update(ports)
d.subscribe("bench-victim", cb)
print("ready", flush=True)
sys.stdin.read()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results = []
    with Serve() as serve:
        subs = [subprocess.Popen([sys.executable, "-c", SUBSCRIBER, serve.zk], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for _ in range(args.subscribers)]
        events: dict[tuple[str, str], list[float]] = {}
        cond = threading.Condition()

        def reader(p):
            for line in p.stdout:
                parts = line.split()
                with cond:
                    key = (parts[0], parts[1] if len(parts) > 1 else "")
                    events.setdefault(key, []).append(float(parts[2]) if len(parts) > 2 else 0.0)
                    cond.notify_all()

        for p in subs:
            threading.Thread(target=reader, args=(p,), daemon=True).start()

        def wait_all(key, timeout):
            with cond:
                if not cond.wait_for(lambda: len(events.get(key, [])) >= args.subscribers, timeout):
                    raise RuntimeError(f"only {len(events.get(key, []))} subscribers saw {key}")

        try:
            wait_all(("ready", ""), 60)
            for r in range(args.rounds):
                port = str(9000 + r)
                victim = subprocess.Popen([sys.executable, "-c", VICTIM, serve.zk, port], stdout=subprocess.PIPE,
                                          text=True)
                assert victim.stdout.readline().strip() == "registered"
                wait_all(("up", port), 30)
                t0 = time.time()
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                wait_all(("down", port), 60)
                results.append(max(events[("down", port)]) - t0)
                print(f"  round {r + 1}: every subscriber dropped it after {results[-1]:.2f} s", flush=True)
        finally:
            for p in subs:
                p.stdin.close()
                p.kill()
                p.wait()
    print(f"failure detection after kill -9 ({args.subscribers} subscribers, {args.rounds} rounds):")
    print(f"  shipway SDK (ephemeral znode, 4 s session) : median {pct(results, 50):.2f} s   worst {max(results):.2f} s"
          "   (target ≤ 6 s)")
    print("  Nacos ephemeral instance (documented)      : 15 s to unhealthy, 30 s to removal")


if __name__ == "__main__":
    main()
