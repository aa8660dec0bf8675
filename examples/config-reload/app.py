"""A web app whose settings reload on the fly from shipway's config center.

It serves ``GET /`` → ``{"greeting": ..., "max_requests_per_minute": ..., "config_version": N}`` from the
YAML config ``greeting.yaml`` (group ``DEFAULT_GROUP``). Publish a new version and the next request
shows it — no restart::

    SHIPWAY_ZK=127.0.0.1:2181 python app.py            # ZooKeeper mode
    SHIPWAY_URL=http://127.0.0.1:8470 SHIPWAY_TOKEN=swt_… python app.py   # HTTP long-poll mode
    shipway config publish greeting.yaml -c 'greeting: hello again
    max_requests_per_minute: 120'

A bad value (not a mapping, wrong types) is logged and the previous settings stay in force.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from shipway.config_center import ConfigClient, ConfigValue

log = logging.getLogger("config-reload")

DATA_ID = "greeting.yaml"
DEFAULTS = {"greeting": "hello", "max_requests_per_minute": 60}


class Settings:
    """The live settings: replaced as a whole on every valid new config version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict(DEFAULTS)
        self.version = 0

    def snapshot(self) -> dict:
        with self._lock:
            return {**self._values, "config_version": self.version}

    def on_change(self, value: ConfigValue) -> None:
        """The watch callback: validate, then swap in (an exception here is logged by the SDK)."""
        if value.content is None:
            log.warning("%s was deleted; keeping the last settings", DATA_ID)
            return
        data = yaml.safe_load(value.content) or {}
        if not isinstance(data, dict) or not isinstance(data.get("max_requests_per_minute", 0), int):
            raise ValueError(f"{DATA_ID} v{value.version}: expected a mapping with an integer rate")
        with self._lock:
            self._values = {**DEFAULTS, **{k: data[k] for k in DEFAULTS if k in data}}
            self.version = value.version
        log.info("settings reloaded from %s version %s", DATA_ID, value.version)


def make_client() -> ConfigClient:
    if os.environ.get("SHIPWAY_URL"):
        return ConfigClient(url=os.environ["SHIPWAY_URL"], token=os.environ.get("SHIPWAY_TOKEN"))
    return ConfigClient(zk=os.environ.get("SHIPWAY_ZK", "127.0.0.1:2181"))


def serve(settings: Settings, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = json.dumps(settings.snapshot()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    with make_client() as client:
        client.watch(DATA_ID, "DEFAULT_GROUP", settings.on_change)
        server = serve(settings, int(os.environ.get("PORT", "8080")))
        log.info("serving on http://127.0.0.1:%s", server.server_port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
