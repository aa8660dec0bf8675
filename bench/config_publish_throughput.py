"""Config publish throughput: acknowledged publishes/s through the REST API vs raw kazoo ``set``/s.

Starts a real ``shipway serve`` (own data dir under /tmp, own local ZooKeeper; stopped at the end).
What is compared, like with like — the same ``--threads`` closed-loop workers (each sends its next
request when the previous one is answered) in this one process, for ``--seconds`` each, ~200-byte values:

* **ours**: each worker ``PUT /api/v1/configs/public/bench/tp-<i>`` (its own config) on its own kept-alive
  ``http.client`` connection; every publish is a full acknowledged one (ZooKeeper value + SQL history,
  audit and index, see docs/config.md), answered 200 only when durable in SQL;
* **raw** (the reference): each worker does a synchronous ``kazoo.set`` on its own znode, all workers
  sharing one kazoo client (as all our publishes share the server's one kazoo session);
* **HTTP floor** (context): the same workers doing ``GET /healthz`` — the rate of a request that does
  nothing, i.e. the ceiling any HTTP API of this single-process server can reach here.

Both paths are warmed for 3 s each first (not counted), then measured in three interleaved rounds of
``--seconds``/2 each; the totals are compared and every round is printed.
A light HTTP client (``http.client``, not ``requests``) is used so that the load generator, which shares
the machine's 2 cores with the server, costs about what the kazoo client costs on the raw side.
Target: ours ≥ 0.5 × raw. ``--requests-client`` runs our side with ``requests`` as well (old variant).

    .venv/bin/python bench/config_publish_throughput.py [--threads 8] [--seconds 5] [--requests-client]
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
    ap.add_argument("--requests-client", action="store_true", help="also measure ours with requests.Session")
    args = ap.parse_args()
    import http.client
    import json

    import requests
    from kazoo.client import KazooClient

    from config_support import Serve

    with Serve() as serve:
        kz = KazooClient(serve.zk)
        kz.start(30)
        for i in range(args.threads):
            kz.ensure_path(f"/bench-raw/tp-{i}")
        conns = [http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30) for _ in range(args.threads)]
        sessions = [requests.Session() for _ in range(args.threads)]
        headers = {**serve.auth, "Content-Type": "application/json"}
        body = "key=value\n" * 20  # ~200 bytes of properties

        def call(i: int, method: str, path: str, payload: bytes | None = None) -> None:
            conns[i].request(method, path, body=payload, headers=headers)
            r = conns[i].getresponse()
            data = r.read()
            if r.status >= 300:
                raise SystemExit(f"{method} {path} failed: {r.status} {data[:300]!r}")

        def ours(i: int, n: int) -> None:
            call(i, "PUT", f"/api/v1/configs/public/bench/tp-{i}",
                 json.dumps({"content": f"{body}n={n}\n", "type": "properties"}).encode())

        def ours_requests(i: int, n: int) -> None:
            r = sessions[i].put(f"{serve.url}/api/v1/configs/public/bench/tp-{i}",
                                json={"content": f"{body}n={n}\n", "type": "properties"}, headers=serve.auth,
                                timeout=30)
            if r.status_code >= 300:
                raise SystemExit(f"publish failed: {r.status_code} {r.text}")

        def floor(i: int, n: int) -> None:
            call(i, "GET", "/healthz")

        def raw(i: int, n: int) -> None:
            kz.set(f"/bench-raw/tp-{i}", f"{body}n={n}\n".encode())

        # Warm both paths first, not counted. ZooKeeper is a JVM: its first thousands of writes (and of multis)
        # run in the interpreter and the JIT, so a short warm-up leaves whichever side runs first half cold
        # (the same finding as in registry_register.py).
        for _ in range(2):
            run(args.threads, 1.5, ours)
            run(args.threads, 1.5, raw)
        # raw and ours measured in three interleaved rounds, so that a burst of load from elsewhere hits both
        results = {"raw": [], "ours": []}
        for _ in range(3):
            results["raw"].append(run(args.threads, args.seconds / 2, raw))
            results["ours"].append(run(args.threads, args.seconds / 2, ours))
        floor_n, floor_t = run(args.threads, args.seconds / 2, floor)
        req = run(args.threads, args.seconds / 2, ours_requests) if args.requests_client else None
        kz.stop()
        kz.close()
        raw_n, raw_t = map(sum, zip(*results["raw"]))
        our_n, our_t = map(sum, zip(*results["ours"]))
        raw_rate, our_rate, floor_rate = raw_n / raw_t, our_n / our_t, floor_n / floor_t
        print(f"{args.threads} concurrent closed-loop workers, 3 rounds of {args.seconds / 2:.1f} s each for raw and ours")
        print("  rounds (raw, ours): " + ", ".join(f"{r[0] / r[1]:.0f} / {o[0] / o[1]:.0f}"
                                                  for r, o in zip(results["raw"], results["ours"])))
        print(f"  raw kazoo set (reference):                 {raw_rate:8.1f} /s  ({raw_n} writes)")
        print(f"  shipway REST publish (acked), http.client: {our_rate:8.1f} /s  ({our_n} publishes)")
        if req:
            print(f"  shipway REST publish (acked), requests:    {req[0] / req[1]:8.1f} /s  ({req[0]} publishes)")
        print(f"  HTTP floor, GET /healthz, http.client:     {floor_rate:8.1f} /s  (ratio to raw "
              f"{floor_rate / raw_rate:.2f})")
        print(f"  ratio ours/raw = {our_rate / raw_rate:.2f} (target ≥ 0.5)")


if __name__ == "__main__":
    main()
