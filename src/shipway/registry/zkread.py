"""Reading many znodes from ZooKeeper without tripping kazoo: bounded pipelining and safe child watches."""

from __future__ import annotations

import threading

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from shipway.core.errors import Unavailable

#: Reads in flight at once. kazoo wakes its connection with one byte per request on a socketpair; a
#: few hundred unread wake-ups fill its buffer, and under gevent a second writer then fails with
#: ConnectionClosedError. Batches, and at most a few of them at once, keep far below that.
BATCH = 32
_SLOTS = threading.BoundedSemaphore(4)


def get_each(zk: KazooClient, node_paths: list[str], *, watch=None) -> list[bytes | None]:
    """The data of many znodes in order (None for a missing one), pipelined in batches."""
    out: list[bytes | None] = []
    for start in range(0, len(node_paths), BATCH):
        with _SLOTS:
            asyncs = [zk.get_async(p, watch=watch) for p in node_paths[start:start + BATCH]]
            for a in asyncs:
                try:
                    data, _ = a.get(timeout=10)
                except NoNodeError:
                    data = None
                except (KazooException, zk.handler.timeout_exception) as e:
                    raise Unavailable(f"ZooKeeper is not reachable: {type(e).__name__}") from e
                out.append(data)
    return out


def get_many(zk: KazooClient, node_paths: list[str], *, watch=None) -> list[bytes]:
    """The data of many znodes, pipelined in batches; missing ones are skipped."""
    return [d for d in get_each(zk, node_paths, watch=watch) if d is not None]


def watch_children(zk: KazooClient, path: str, watch) -> list[str]:
    """The children of ``path`` with a children watch; for an absent node, an exists watch instead.

    If the node appears between the two calls, ``exists`` would set a mere data watch (blind to
    children): read the children again, so a watch on them is never lost.
    """
    while True:
        try:
            return zk.get_children(path, watch=watch)
        except NoNodeError:
            if zk.exists(path, watch=watch) is None:
                return []
