"""Shared helpers of the config center's integration tests."""

from __future__ import annotations

import threading

import pytest


class Recorder:
    """A watch callback that records every value it gets (thread-safe)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.values = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, value) -> None:
        with self._lock:
            self.values.append(value)
        if self.fail_on is not None and value.version == self.fail_on:
            raise RuntimeError("callback failure on purpose")

    @property
    def versions(self) -> list[int]:
        with self._lock:
            return [v.version for v in self.values]

    @property
    def last(self):
        with self._lock:
            return self.values[-1] if self.values else None


@pytest.fixture
def recorder():
    return Recorder


@pytest.fixture
def config(app):
    """The app's config service (``ctx.services["config"]``)."""
    return app.extensions["shipway"].services["config"]
