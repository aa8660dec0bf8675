"""Prometheus metrics of the config center (served by ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CHANGES = Counter("shipway_config_changes_total", "Config changes by action (publish, delete, ...) and outcome",
                  ["action", "outcome"])
PUBLISH_SECONDS = Histogram("shipway_config_publish_seconds", "Time to an acknowledged publish (SQL + ZooKeeper)",
                            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
LONGPOLL_WAITING = Gauge("shipway_config_longpoll_waiting", "Config long-poll requests being held")
