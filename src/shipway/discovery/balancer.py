"""Choosing one instance: weighted random and (smooth weighted) round robin."""

from __future__ import annotations

import random
import threading

from shipway.core.errors import NotFound
from shipway.registry import model


class NoInstanceAvailable(NotFound):
    """No healthy, enabled instance with a positive weight."""

    code = "no_instance"


def candidates(instances: list[dict], protect_threshold: float = 0.0) -> list[dict]:
    """Healthy, enabled instances with weight > 0 (all enabled ones once the protect threshold is reached)."""
    pool, _ = model.select(instances, healthy_only=True, protect_threshold=protect_threshold)
    return [i for i in pool if float(i.get("weight", 1.0)) > 0]


def weighted_random(pool: list[dict], rng: random.Random | None = None) -> dict:
    total = sum(float(i.get("weight", 1.0)) for i in pool)
    point = (rng or random).uniform(0, total)
    for inst in pool:
        point -= float(inst.get("weight", 1.0))
        if point <= 0:
            return inst
    return pool[-1]


class RoundRobin:
    """Smooth weighted round robin (nginx's): equal weights give plain rotation, no bursts for heavy ones."""

    def __init__(self) -> None:
        self._current: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def pick(self, key: str, pool: list[dict]) -> dict:
        with self._lock:
            cur = self._current.setdefault(key, {})
            ids = {i["instanceId"] for i in pool}
            for gone in set(cur) - ids:
                del cur[gone]
            total, best = 0.0, None
            for inst in pool:
                w = float(inst.get("weight", 1.0))
                cur[inst["instanceId"]] = cur.get(inst["instanceId"], 0.0) + w
                total += w
                if best is None or cur[inst["instanceId"]] > cur[best["instanceId"]]:
                    best = inst
            cur[best["instanceId"]] -= total
            return best
