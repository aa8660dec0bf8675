"""Polling with a deadline instead of sleeping."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class GiveUp(AssertionError):
    """Raise from a condition to stop waiting at once (the thing waited for can no longer happen)."""


def wait_for(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as e:  # noqa: BLE001 - keep polling; report the last error
            last_error = e
        if time.monotonic() > deadline:
            extra = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {message}{extra}")
        time.sleep(interval)
