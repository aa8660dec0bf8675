"""Prometheus metrics of runs (registered once per process on the default registry)."""

from __future__ import annotations

import threading
import time

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter("shipway_pipeline_runs_total", "Pipeline runs finished, by final status", ["status"])
RUNS_STARTED = Counter("shipway_pipeline_runs_queued_total", "Pipeline runs recorded and queued")
DURATION = Histogram("shipway_pipeline_run_duration_seconds", "Run duration from start to end", ["status"],
                     buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600))
QUEUE_WAIT = Histogram("shipway_pipeline_queue_to_first_step_seconds", "Time from queued to the first step",
                       buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60))
STAGES = Counter("shipway_pipeline_stages_total", "Stages finished, by status", ["status"])
RUNNING = Gauge("shipway_pipeline_runs_active", "Runs executing in this process")


class Metrics:
    """Small facade so the engine does not import prometheus names everywhere."""

    def __init__(self) -> None:
        self._queued_at: dict[int, float] = {}
        self._lock = threading.Lock()

    def queued(self, run_id: int) -> None:
        RUNS_STARTED.inc()
        with self._lock:
            self._queued_at[run_id] = time.monotonic()

    def first_step(self, run_id: int) -> None:
        with self._lock:
            t = self._queued_at.pop(run_id, None)
        if t is not None:
            QUEUE_WAIT.observe(time.monotonic() - t)

    def stage_done(self, status: str) -> None:
        STAGES.labels(status).inc()

    def finished(self, row) -> None:
        RUNS.labels(row.status).inc()
        if row.started_at and row.finished_at:
            DURATION.labels(row.status).observe((row.finished_at - row.started_at).total_seconds())
