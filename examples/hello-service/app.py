"""hello-service: a tiny web app whose greeting comes from shipway's config center, hot-reloaded.

Standard library only, so it runs on the plain ``shipway/python:3.11`` base image. It speaks the Nacos
config protocol (any Nacos server works): it reads ``DATA_ID``/``GROUP`` from ``NAMESPACE`` and holds a
long-poll on ``/nacos/v1/cs/configs/listener``; when the config changes it fetches the new value, with no
restart.

Environment:
  SHIPWAY_URL    config server base URL (the orchestrator injects it into every pod)
  CONFIG_TOKEN   an API token with the viewer role (from a Kubernetes Secret)
  NAMESPACE      config namespace (default "public"); GROUP (default "DEFAULT_GROUP")
  DATA_ID        config to read (default "hello.json"): JSON like {"greeting": "Hello"}
  GREETING       greeting used until the config center answers (default "Hello")
  PORT           port to serve on (default 8080)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "1")
log = logging.getLogger("hello")


def parse_greeting(content: str, fallback: str) -> str:
    """The greeting in a JSON config document, or ``fallback`` when it has none."""
    try:
        data = json.loads(content)
    except ValueError:
        return fallback
    value = data.get("greeting") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else fallback


def render(greeting: str, host: str) -> str:
    return f"{greeting} (from {host}, version {VERSION})\n"


class Config:
    """The current greeting, kept fresh by a Nacos long-poll loop in a daemon thread."""

    def __init__(self, base_url: str, token: str, namespace: str, group: str, data_id: str, fallback: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.namespace, self.group, self.data_id = namespace, group, data_id
        self.greeting = fallback
        self.fallback = fallback
        self.md5 = ""
        self.loaded = threading.Event()

    def _url(self, path: str, **params: str) -> str:
        if self.token:
            params["accessToken"] = self.token
        return f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"

    def fetch(self) -> None:
        params = {"dataId": self.data_id, "group": self.group}
        if self.namespace != "public":
            params["tenant"] = self.namespace
        try:
            with urllib.request.urlopen(self._url("/nacos/v1/cs/configs", **params), timeout=10) as resp:
                content = resp.read().decode()
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            content = ""
        self.md5 = hashlib.md5(content.encode()).hexdigest() if content else ""
        self.greeting = parse_greeting(content, self.fallback)
        self.loaded.set()
        log.info("config %s/%s loaded: greeting=%r", self.group, self.data_id, self.greeting)

    def listen_once(self, timeout_ms: int = 30000) -> bool:
        """Hold one long-poll; True when the server says the config changed."""
        fields = [self.data_id, self.group, self.md5]
        if self.namespace != "public":
            fields.append(self.namespace)
        body = urllib.parse.urlencode({"Listening-Configs": "\x02".join(fields) + "\x01"}).encode()
        req = urllib.request.Request(self._url("/nacos/v1/cs/configs/listener"), data=body, method="POST",
                                     headers={"Long-Pulling-Timeout": str(timeout_ms),
                                              "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=timeout_ms / 1000 + 10) as resp:
            return bool(resp.read().strip())

    def run(self) -> None:
        delay = 1.0
        while True:
            try:
                if not self.loaded.is_set() or self.listen_once():
                    self.fetch()
                delay = 1.0
            except (OSError, urllib.error.URLError) as e:
                log.warning("config server unreachable (%s); retrying in %.0f s", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


def make_handler(config: Config):
    host = socket.gethostname()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/healthz":
                self._send(200, "ok\n")
            elif self.path == "/readyz":
                self._send(200 if config.loaded.is_set() else 503, "ready\n" if config.loaded.is_set() else "loading\n")
            elif self.path == "/":
                self._send(200, render(config.greeting, host))
            else:
                self._send(404, "not found\n")

        def log_message(self, fmt: str, *args) -> None:
            log.debug(fmt, *args)

    return Handler


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    env = os.environ
    config = Config(env.get("SHIPWAY_URL", "http://127.0.0.1:8470"), env.get("CONFIG_TOKEN", ""),
                    env.get("NAMESPACE", "public"), env.get("GROUP", "DEFAULT_GROUP"),
                    env.get("DATA_ID", "hello.json"), env.get("GREETING", "Hello"))
    threading.Thread(target=config.run, name="config", daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", int(env.get("PORT", "8080"))), make_handler(config))
    log.info("hello-service %s listening on :%s", VERSION, env.get("PORT", "8080"))
    server.serve_forever()


if __name__ == "__main__":
    main()
