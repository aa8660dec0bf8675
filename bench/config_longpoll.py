"""Nacos long polling at scale: 1,000 held ``/nacos/v1/cs/configs/listener`` requests, answered by one publish.

Starts a real ``shipway serve`` (gevent; own data dir under /tmp, own local ZooKeeper; stopped at the
end). Two gevent client processes open ``--listeners`` Nacos-protocol long polls (form-encoded
``Listening-Configs``, ``Long-Pulling-Timeout: 30000``; kept-alive connections as Nacos clients use, or
``Connection: close`` with ``--connection-close``) on one config; while they are held the bench
measures plain ``GET /nacos/v1/cs/configs`` latency and the server's RSS, then publishes through the REST
API and measures publish → answer for every listener (one system-wide monotonic clock).

Reference, same run: the same GET latency with no listener held. Targets: publish → answer p99 ≤ 200 ms,
GET p99 < 50 ms while held.

    .venv/bin/python bench/config_longpoll.py [--listeners 1000] [--connection-close]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA_ID = "bench.lp"


def listeners(url: str, token: str, n: int, md5: str, close: bool) -> None:
    """``n`` held listeners on raw gevent sockets (a light client, so the client side does not queue).

    Kept-alive connections, as Nacos clients (HttpURLConnection, Apache HttpClient) use: the answer is
    read by its ``Content-Length``; with ``close`` each request says ``Connection: close`` and is read to
    the end of the stream (the server then also closes a socket per answer)."""
    from gevent import monkey
    monkey.patch_all()
    import socket
    import urllib.parse

    import gevent

    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    body = urllib.parse.urlencode({"Listening-Configs": f"{DATA_ID}\x02DEFAULT_GROUP\x02{md5}\x01"}).encode()
    request = (f"POST /nacos/v1/cs/configs/listener?accessToken={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\nLong-Pulling-Timeout: 30000\r\n"
               f"Connection: {'close' if close else 'keep-alive'}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    answers: list[tuple[float, str, int]] = []
    sent = [0]
    kept: list = []

    def one():
        try:
            s = socket.create_connection((host, port), timeout=60)
            s.sendall(request)
            sent[0] += 1
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep and not close:
                    length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    if length and len(rest) >= length[0]:
                        break
            now = time.monotonic()
            kept.append(s)
        except OSError as e:
            sent[0] += 1
            answers.append((time.monotonic(), repr(e), -1))
            return
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head else -1
        answers.append((now, payload.decode(errors="replace").strip(), status))

    greenlets = []
    for i in range(n):  # ramp up (~125 connections/s per process): the server's accept backlog is finite
        greenlets.append(gevent.spawn(one))
        if i % 10 == 9:
            gevent.sleep(0.08)
    while sent[0] < n:
        gevent.sleep(0.05)
    gevent.sleep(2.0)  # let the last requests reach the server and be held
    print("READY", flush=True)
    cpu0 = time.process_time()
    gevent.joinall(greenlets, timeout=60)
    for s in kept:
        s.close()
    print(json.dumps({"answers": answers, "cpu_ms": (time.process_time() - cpu0) * 1000}), flush=True)


def get_loop(serve, stop: threading.Event, out: list[float], fresh: list[float]) -> None:
    """GETs alternating on a kept-alive connection (``out``) and on a new connection (``fresh``)."""
    import requests
    s = requests.Session()
    while not stop.is_set():
        t0 = time.perf_counter()
        r = requests.get(f"{serve.url}/nacos/v1/cs/configs", params={"dataId": "bench.get", "group": "DEFAULT_GROUP",
                                                                      "accessToken": serve.token}, timeout=10)
        fresh.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        r = s.get(f"{serve.url}/nacos/v1/cs/configs", params={"dataId": "bench.get", "group": "DEFAULT_GROUP",
                                                               "accessToken": serve.token}, timeout=10)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--md5")
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--connection-close", action="store_true",
                    help="listeners send 'Connection: close' (default: kept-alive, as Nacos clients)")
    args = ap.parse_args()
    if args.child:
        listeners(args.url, args.token, args.listeners, args.md5, args.connection_close)
        return
    import requests

    from config_support import Serve, pct, summary

    with Serve() as serve:
        base = f"{serve.url}/api/v1/configs/public/DEFAULT_GROUP/"
        requests.put(base + DATA_ID, json={"content": "v=0"}, headers=serve.auth).raise_for_status()
        requests.put(base + "bench.get", json={"content": "x" * 2000}, headers=serve.auth).raise_for_status()
        idle: list[float] = []
        idle_fresh: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=get_loop, args=(serve, stop, idle, idle_fresh))
        t.start()
        time.sleep(3)
        stop.set()
        t.join()
        rss_idle = serve.rss_mb()
        md5 = hashlib.md5(b"v=0").hexdigest()
        # Two client processes, so that reading 1,000 answers on the client side does not queue.
        per = [args.listeners // args.procs + (1 if i < args.listeners % args.procs else 0) for i in range(args.procs)]
        children = [subprocess.Popen([sys.executable, __file__, "--child", "--url", serve.url, "--token", serve.token,
                                      "--md5", md5, "--listeners", str(n)]
                                     + (["--connection-close"] if args.connection_close else []),
                                     stdout=subprocess.PIPE, text=True)
                    for n in per]
        for child in children:
            assert child.stdout.readline().strip() == "READY"
        held: list[float] = []
        held_fresh: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=get_loop, args=(serve, stop, held, held_fresh))
        t.start()
        time.sleep(3)
        rss_held = serve.rss_mb()
        cpu0 = serve.cpu_s()
        t0 = time.monotonic()
        requests.put(base + DATA_ID, json={"content": "v=1"}, headers=serve.auth).raise_for_status()
        put_ms = (time.monotonic() - t0) * 1000
        answers = []
        client_cpu = []
        for child in children:
            out, _ = child.communicate(timeout=120)
            got = json.loads(out.strip().splitlines()[-1])
            answers += got["answers"]
            client_cpu.append(got["cpu_ms"])
        server_cpu = (serve.cpu_s() - cpu0) * 1000
        stop.set()
        t.join()
        lat = [(ts - t0) * 1000 for ts, body, status in answers if status == 200 and body]
        early = sum(1 for ts, _, _ in answers if ts < t0)
        empty = sum(1 for _, body, status in answers if status == 200 and not body)
        errors = sum(1 for _, _, status in answers if status != 200)
        for _, body, status in answers:
            if status != 200:
                print("  error example:", status, body[:200])
                break
        print(f"{args.listeners} Nacos long-poll listeners held on one config "
              f"({'Connection: close' if args.connection_close else 'kept-alive connections'})")
        print(f"  publish → listener answered: {summary(lat)}  (answered early {early}, empty {empty}, "
              f"errors {errors}, missing {args.listeners - len(answers)})  target p99 ≤ 200 ms")
        print(f"  the publish (PUT) itself took {put_ms:.1f} ms; CPU used from the publish to the last answer: "
              f"server {server_cpu:.0f} ms (incl. the GET loop), listener processes "
              f"{' + '.join(f'{c:.0f}' for c in client_cpu)} ms")
        print(f"  config GET, new connection, no listeners (reference): {summary(idle_fresh)}")
        print(f"  config GET, new connection, listeners held:           {summary(held_fresh)}  target p99 < 50 ms")
        print(f"  config GET, kept-alive connection, no listeners:      {summary(idle)}")
        print(f"  config GET, kept-alive connection, listeners held:    {summary(held)}")
        print(f"  server RSS: {rss_idle:.0f} MB idle, {rss_held:.0f} MB with {args.listeners} held "
              f"(+{rss_held - rss_idle:.0f} MB)")
        _ = pct


if __name__ == "__main__":
    main()
