"""Config publish throughput: acknowledged publishes/s through the REST API vs raw kazoo ``set``/s.

Starts a real ``shipway serve`` (own data dir under /tmp, own local ZooKeeper; stopped at the end).
``--threads`` concurrent publishers each update their own config for ``--seconds``; every publish is a
full acknowledged one (SQL history row + ZooKeeper value, see docs/config.md). Reference, same run,
same ZooKeeper, same concurrency: threads sharing one kazoo client doing synchronous ``set`` on their own
znode (the floor: one ZooKeeper write each). Target: ours ≥ 0.5 × raw.

    .venv/bin/python bench/config_publish_throughput.py [--threads 8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(threads: int, seconds: float, op) -> tuple[int, float]:
    counts = [0] * threads
    stop = threading.Event()

    def loop(i: int) -> None:
        n = 0
        while not stop.is_set():
            op(i, n)
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    return sum(counts), elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    import requests
    from kazoo.client import KazooClient

    from config_support import Serve

    with Serve() as serve:
        kz = KazooClient(serve.zk)
        kz.start(30)
        for i in range(args.threads):
            kz.ensure_path(f"/bench-raw/tp-{i}")
        sessions = [requests.Session() for _ in range(args.threads)]
        body = "key=value\n" * 20  # ~200 bytes of properties

        def ours(i: int, n: int) -> None:
            r = sessions[i].put(f"{serve.url}/api/v1/configs/public/bench/tp-{i}",
                                json={"content": f"{body}n={n}\n", "type": "properties"}, headers=serve.auth,
                                timeout=30)
            if r.status_code >= 300:
                raise SystemExit(f"publish failed: {r.status_code} {r.text}")

        def raw(i: int, n: int) -> None:
            kz.set(f"/bench-raw/tp-{i}", f"{body}n={n}\n".encode())

        run(args.threads, 1.0, ours)  # warm up both paths
        run(args.threads, 1.0, raw)
        raw_n, raw_t = run(args.threads, args.seconds, raw)
        our_n, our_t = run(args.threads, args.seconds, ours)
        kz.stop()
        kz.close()
        raw_rate, our_rate = raw_n / raw_t, our_n / our_t
        print(f"{args.threads} concurrent publishers, {args.seconds:.0f} s each")
        print(f"  raw kazoo set:                {raw_rate:8.1f} /s  ({raw_n} writes)")
        print(f"  shipway REST publish (acked): {our_rate:8.1f} /s  ({our_n} publishes)")
        print(f"  ratio ours/raw = {our_rate / raw_rate:.2f} (target ≥ 0.5)")


if __name__ == "__main__":
    main()
