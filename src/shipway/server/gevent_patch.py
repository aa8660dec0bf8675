"""What ``shipway serve`` adjusts right after gevent's monkey-patching (see cli/main.py).

Monkey-patching turns every ``threading.Lock`` created afterwards into a gevent lock: a Python-level object
that costs about a microsecond per acquire. That is right for locks whose holder may wait (a greenlet
holding one can yield), but prometheus_client guards each metric value with one, and takes it for every
``inc``/``observe`` — six times per config publish — around a critical section that never yields. For those
an OS lock is correct under gevent (no greenlet can switch while holding it) and also across the server's
few native threads (where a gevent lock is not), and costs a few tens of nanoseconds.
"""

from __future__ import annotations


def after_monkey_patch() -> None:
    """Give prometheus_client's metric values OS locks (must run before any metric is created)."""
    from gevent import monkey

    import prometheus_client.values as values

    values.Lock = monkey.get_original("threading", "Lock")
