"""The discovery client SDK: register, subscribe, cache, choose an instance, failover snapshot.

Two modes with one interface (``register``, ``deregister``, ``subscribe``, ``unsubscribe``,
``instances``, ``choose``, ``close``):

* :class:`Discovery` — over ZooKeeper; registrations are ephemeral znodes of the client's session;
* :class:`HttpDiscovery` — over shipway's HTTP APIs with heartbeats, for apps without ZooKeeper access.

:func:`connect` picks one from its arguments or the environment (``SHIPWAY_ZK`` / ``SHIPWAY_URL`` +
``SHIPWAY_TOKEN``). See docs/discovery.md.
"""

from __future__ import annotations

import os

from shipway.discovery.balancer import NoInstanceAvailable
from shipway.discovery.client import Discovery, Registration
from shipway.discovery.http import HttpDiscovery, HttpRegistration

__all__ = ["Discovery", "HttpDiscovery", "Registration", "HttpRegistration", "NoInstanceAvailable", "connect"]


def connect(zk: str | None = None, *, url: str | None = None, token: str | None = None, **kw):
    """A :class:`Discovery` for ``zk`` (or ``SHIPWAY_ZK``), else an :class:`HttpDiscovery` for ``url``."""
    zk = zk or (None if url else os.environ.get("SHIPWAY_ZK"))
    if zk:
        return Discovery(zk, **kw)
    url = url or os.environ.get("SHIPWAY_URL")
    if not url:
        raise ValueError("give a ZooKeeper connect string (zk=, SHIPWAY_ZK) or a server URL (url=, SHIPWAY_URL)")
    return HttpDiscovery(url, token or os.environ.get("SHIPWAY_TOKEN"), **kw)
