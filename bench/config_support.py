"""Shared plumbing of the config benchmarks: :class:`Serve` (see ``serving.py``, without an image registry)
and the latency summary they print.
"""

from __future__ import annotations

import statistics

from serving import Serve as _Serve, pct


def summary(ms: list[float]) -> str:
    if not ms:
        return "no samples"
    return (f"p50 {pct(ms, 50):7.2f} ms  p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms  "
            f"mean {statistics.fmean(ms):7.2f} ms  (n={len(ms)})")


class Serve(_Serve):
    """``shipway serve`` + its local ZooKeeper for the config benchmarks (no image registry)."""

    def __init__(self) -> None:
        super().__init__("config")


__all__ = ["Serve", "pct", "summary"]
