"""Query rate of ``GET /nacos/v1/ns/instance/list`` with 100 services × 10 instances, with p99 latency.

Against a ``shipway serve`` started here (own temp data dir, own local ZooKeeper). The instances are
registered through the Nacos API (persistent, server checks off). Then ``--clients`` client processes
query random services for ``--seconds`` (a fresh connection per request, like a short-lived Nacos
client; see registry_harness.http_call). Reference, measured the same way in the same run: ``GET
/healthz`` (the floor of the HTTP stack: routing, security, request ids, metrics).

    .venv/bin/python bench/registry_query.py [--services 100] [--instances 10] [--clients 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from registry_harness import Serve, form, http_call, pct

CLIENT = r"""
import json, random, sys, time, threading
sys.path.insert(0, sys.argv[5])
from registry_harness import http_call
port, token, services, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
path_kind = sys.argv[6]
lat, errors = [], 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    if path_kind == "list":
        path = f"/nacos/v1/ns/instance/list?serviceName=bench-q{random.randrange(services)}&healthyOnly=true"
    else:
        path = "/healthz"
    t = time.perf_counter()
    status, body = http_call(port, "GET", path, token=token)
    lat.append((time.perf_counter() - t) * 1000)
    if status != 200 or (path_kind == "list" and len(json.loads(body)["hosts"]) == 0):
        errors += 1
print(json.dumps({"lat": lat, "errors": errors}))
"""


def run(serve: Serve, kind: str, args) -> tuple[float, list[float], int]:
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(serve.port), serve.token, str(args.services),
                               str(args.seconds), str(Path(__file__).resolve().parent), kind], stdout=subprocess.PIPE, text=True)
             for _ in range(args.clients)]
    lat, errors = [], 0
    for p in procs:
        out = json.loads(p.communicate()[0])
        lat += out["lat"]
        errors += out["errors"]
    return len(lat) / args.seconds, lat, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    with Serve() as serve:
        for s in range(args.services):
            for i in range(args.instances):
                status, body = http_call(serve.port, "POST", "/nacos/v1/ns/instance", token=serve.token, body=form(
                    serviceName=f"bench-q{s}", ip=f"10.5.{s}.{i + 1}", port=8080, ephemeral="false",
                    metadata='{"shipway.health.check":"none"}'))
                assert status == 200, body
        floor_rate, floor_lat, floor_err = run(serve, "healthz", args)
        rate, lat, errors = run(serve, "list", args)
    print(f"{args.services} services × {args.instances} instances, {args.clients} client processes, "
          f"{args.seconds:.0f} s each, a connection per request")
    print(f"  GET /nacos/v1/ns/instance/list : {rate:7.0f} req/s   p50 {pct(lat, 50):5.1f} ms   "
          f"p99 {pct(lat, 99):5.1f} ms   errors {errors}")
    print(f"  GET /healthz (stack floor)     : {floor_rate:7.0f} req/s   p50 {pct(floor_lat, 50):5.1f} ms   "
          f"p99 {pct(floor_lat, 99):5.1f} ms   errors {floor_err}")
    print(f"  instance/list rate = {rate / floor_rate:.2f}× the floor")


if __name__ == "__main__":
    main()
