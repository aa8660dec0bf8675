"""Outgoing notifications: POST a JSON event to a project's ``notify_url``, signed, in the background.

Body ``{"event", "project", "delivery", "sent_at", "payload"}``; headers
``X-Shipway-Event``, ``X-Shipway-Delivery`` and ``X-Shipway-Signature:
sha256=<hex HMAC-SHA256 of the body keyed with the project's webhook secret>``
(the same scheme as the generic incoming hook, so receivers verify both alike).
One daemon worker drains a bounded queue; each POST has a short timeout and a
couple of retries with back-off; failures are logged (URL without its query or
credentials), never raised into the caller.

Commit statuses go through the same worker: ``POST <status_api>/statuses/<sha>``
with ``{"state", "target_url", "description", "context": "shipway"}`` and
``Authorization: token <credentials.token>`` — the shape GitHub and Gitea share.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid

from shipway.core.store import utcnow
from shipway.webhook.normalise import SHA_RE
from shipway.webhook.verify import hmac_hex

log = logging.getLogger(__name__)

#: Run states → commit-status states of the GitHub/Gitea API (``POST …/statuses/{sha}``).
STATUS_STATES = {"queued": "pending", "running": "pending", "waiting": "pending",
                 "waiting-for-approval": "pending", "succeeded": "success", "success": "success",
                 "failed": "failure", "timed-out": "failure", "interrupted": "error", "aborted": "error",
                 "cancelled": "error"}


class Notifier:
    """Background sender of project notifications."""

    def __init__(self, timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5, maxsize: int = 1000) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()

    def notify(self, projects, name: str, event: str, payload: dict) -> None:
        """Queue one notification; returns at once, never raises."""
        try:
            project = projects.get(name)
            if project.notify_url:
                secret = projects.webhook_secret_of(name)
                delivery = str(uuid.uuid4())
                body = json.dumps({"event": event, "project": name, "delivery": delivery,
                                   "sent_at": utcnow().isoformat(), "payload": payload}, default=str).encode()
                headers = {"Content-Type": "application/json", "User-Agent": "shipway-notify",
                           "X-Shipway-Event": event, "X-Shipway-Delivery": delivery,
                           "X-Shipway-Signature": "sha256=" + hmac_hex(secret, body)}
                self._enqueue((project.notify_url, headers, body, name, event))
        except Exception:  # noqa: BLE001 - notifications must never break the caller
            log.exception("cannot queue notification %s for project %s", event, name)

    def report_status(self, projects, name: str, *, commit: str, state: str, target_url: str = "",
                      description: str = "") -> None:
        """Queue a commit status for ``commit`` on the project's ``status_api`` (GitHub/Gitea shape)."""
        try:
            project = projects.get(name)
            forge_state = STATUS_STATES.get(state)
            if not project.status_api or forge_state is None or not SHA_RE.match(commit.lower()):
                return
            body = json.dumps({"state": forge_state, "target_url": target_url, "context": "shipway",
                               "description": (description or f"run {state}")[:140]}).encode()
            headers = {"Content-Type": "application/json", "Accept": "application/json",
                       "User-Agent": "shipway-status"}
            token = projects.credentials_of(name).get("token")
            if token:
                headers["Authorization"] = f"token {token}"
            url = f"{project.status_api.rstrip('/')}/statuses/{commit.lower()}"
            self._enqueue((url, headers, body, name, f"status {forge_state}"))
        except Exception:  # noqa: BLE001
            log.exception("cannot queue commit status for project %s", name)

    def _enqueue(self, item: tuple) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.warning("notification queue full; dropped %s for project %s", item[4], item[3])
            return
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._stopping.clear()
                self._worker = threading.Thread(target=self._run, name="shipway-notify", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            try:
                self._send(*item)
            except Exception:  # noqa: BLE001 - keep the worker alive
                log.exception("notification worker error")

    def _send(self, url: str, headers: dict, body: bytes, project: str, event: str) -> bool:
        import requests

        safe = url.split("?", 1)[0].split("@")[-1]
        for attempt in range(1, self.attempts + 1):
            try:
                resp = requests.post(url, data=body, headers=headers, timeout=self.timeout,
                                     allow_redirects=False)
                if resp.status_code < 300:
                    return True
                if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    log.warning("notification %s for %s refused by %s: HTTP %s", event, project, safe,
                                resp.status_code)
                    return False
                problem = f"HTTP {resp.status_code}"
            except requests.RequestException as e:
                problem = e.__class__.__name__
            if attempt < self.attempts and self._stopping.wait(self.backoff * attempt):
                break
        log.warning("notification %s for %s to %s failed after %d attempts: %s", event, project, safe,
                    self.attempts, problem)
        return False

    def start(self) -> None:
        """Component hook (the worker also starts lazily on the first notification)."""

    def stop(self) -> None:
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(timeout=self.timeout + 1)
