"""A stand-in for ``ctx.services["pipelines"]`` with the agreed ``start_run`` interface."""

from __future__ import annotations

import threading


class FakePipelines:
    """Records start_run calls; the same idempotency key answers the same run with duplicate=True."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.runs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def start_run(self, project, *, event, trigger, params=None, requested_by=None, idempotency_key=None):
        with self._lock:
            self.calls.append({"project": project, "event": event, "trigger": trigger, "params": params,
                               "requested_by": requested_by, "idempotency_key": idempotency_key})
            if idempotency_key in self.runs:
                return dict(self.runs[idempotency_key], duplicate=True)
            n = len(self.runs) + 1
            run = {"id": f"run-{n}", "number": n, "url": f"/runs/run-{n}", "status": "queued", "duplicate": False}
            if idempotency_key is not None:
                self.runs[idempotency_key] = run
            return dict(run)

    @property
    def events(self):
        return [c["event"] for c in self.calls]
