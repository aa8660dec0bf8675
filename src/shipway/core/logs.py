"""Structured logging with a request id.

Text format for people (``2026-01-01T00:00:00 INFO [req=ab12] shipway.x: message``),
JSON lines for machines. The request id comes from ``X-Request-Id`` or is
generated, lives in a context variable, and is added to every record logged
while the request runs.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message, request id and extras."""

    _SKIP = set(logging.makeLogRecord({}).__dict__) | {"request_id", "message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._SKIP})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str = "info", fmt: str = "text", stream=None) -> None:
    """Install shipway's handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "shipway", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.shipway = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [req=%(request_id)s] %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter at INFO is noise for shipway's users.
    for noisy in ("kazoo.client", "urllib3", "docker", "apscheduler", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
