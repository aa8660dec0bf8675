"""kazoo's connection loop under gevent (``shipway serve``): a cheaper ``select``, and gevent's result objects.

kazoo's threading handler waits in ``handler.select([socket, wake-up pipe], …)`` several times per request.
Its ``select`` builds a fresh ``selectors`` selector every call — under gevent a ``GeventSelector`` with
its own watchers: ~13 µs when the socket is already readable (most calls under load), 32 µs when it waits.
gevent's own ``select`` takes 2 and 26 µs, but it starts with a ``select(2)``, which refuses fds above 1024
— and a busy server's ZooKeeper socket can be there (1,000 long-polling clients). So :func:`select` uses
gevent's below that, and above it asks the kernel with one ``poll(0)`` (no limit on fd numbers), then waits
on the event loop with one io watcher per fd. Measured on the registration benchmark (HTTP, sequential):
0.89–0.91 ms of server CPU per registration instead of 0.95–1.02.

kazoo's threading handler also makes one ``AsyncResult`` per request around a ``threading.Condition``; under
monkey-patching that is a stack of Python-level gevent locks, taken to wait and again to wake. The handler
here gives gevent's compiled ``AsyncResult`` (what kazoo's own gevent handler uses), keeping kazoo's timeout
exception where the threading one raises it. With two smaller changes (header lookups, the properties check):
0.30 → 0.28 ms of server CPU per config publish (bench/config_publish_throughput.py).
"""

from __future__ import annotations

import select as _select

_gevent_select = None  # gevent.select.select, bound by handler()


def handler():
    """A kazoo handler for this process: ``None`` (kazoo's default) unless gevent has patched ``select``."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return None
    if not monkey.is_module_patched("select"):
        return None
    global _gevent_select
    import gevent.select
    from kazoo.handlers.threading import SequentialThreadingHandler

    _gevent_select = gevent.select.select

    import gevent.event

    class GeventResult(gevent.event.AsyncResult):
        """gevent's own (compiled) async result, for the one kazoo creates per request; ``get`` with a
        timeout raises the handler's timeout exception, as kazoo's threading result does.

        One difference to know: a ``rawlink`` callback runs in gevent's hub, not on kazoo's callback worker,
        so it must not block (no synchronous kazoo call in it; queue the work, as discovery's ``armed`` does).
        kazoo's own callbacks (``ensure_path_async`` and the like) only start more async calls."""

        def get(self, block=True, timeout=None):
            if not self.ready():
                if not block:
                    raise GeventLoopHandler.timeout_exception("no result yet")
                if timeout is not None:
                    self.wait(timeout)
                    if not self.ready():
                        raise GeventLoopHandler.timeout_exception(f"no result within {timeout} s")
            return super().get(block, timeout)

        def get_nowait(self):
            return self.get(block=False)

    class GeventLoopHandler(SequentialThreadingHandler):
        """kazoo's threading handler (threads are greenlets here) with :func:`select` and gevent's result and
        event objects."""

        def select(self, *args, **kwargs):
            return select(*args, **kwargs)

        def async_result(self):
            return GeventResult()

        def event_object(self):
            return gevent.event.Event()

    return GeventLoopHandler()


def _original_poll():
    from gevent import monkey
    return monkey.get_original("select", "poll")


def _fd(obj) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


FD_SETSIZE = 1024  # select(2) takes no fd above this; gevent's select starts with one
_READY_R = _select.POLLIN | _select.POLLERR | _select.POLLHUP
_READY_W = _select.POLLOUT | _select.POLLERR | _select.POLLHUP


def select(rlist, wlist, xlist, timeout=None):
    """``select.select`` for kazoo under gevent: ``(readable, writable, [])`` of the objects given (``xlist`` is
    ignored, as by gevent's own ``select``); waits only the calling greenlet."""
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative")
    if all(_fd(o) < FD_SETSIZE for o in rlist) and all(_fd(o) < FD_SETSIZE for o in wlist):
        return _gevent_select(rlist, wlist, xlist, timeout)
    # Above select(2)'s limit (rare: a server holding ~1,000 connections): one poll object for this call.
    poller = _original_poll()()
    masks: dict[int, int] = {}
    for objs, mask in ((rlist, _select.POLLIN), (wlist, _select.POLLOUT)):
        for obj in objs:
            masks[_fd(obj)] = masks.get(_fd(obj), 0) | mask
    for fd, mask in masks.items():
        poller.register(fd, mask)
    events = poller.poll(0)
    if events or timeout == 0:
        ready = dict(events)
        if any(ev & _select.POLLNVAL for ev in ready.values()):
            raise ValueError("Invalid event mask or fd")  # what kazoo's own select raises for a closed fd
        from gevent import sleep
        sleep(0)  # as gevent's select does: a loop that always finds data ready must still let others run
        return ([o for o in rlist if ready.get(_fd(o), 0) & _READY_R],
                [o for o in wlist if ready.get(_fd(o), 0) & _READY_W], [])
    return _wait(rlist, wlist, timeout)


def _wait(rlist, wlist, timeout):
    """Wait on the event loop until one of the fds is ready or ``timeout`` passes."""
    from gevent.event import Event
    from gevent.hub import get_hub

    loop = get_hub().loop
    readable: list = []
    writable: list = []
    ready = Event()
    watchers = []

    def watch(objs, mask: int, into: list) -> None:
        for obj in objs:
            watcher = loop.io(_fd(obj), mask)
            watcher.priority = loop.MAXPRI

            def fired(obj=obj, watcher=watcher, into=into):
                into.append(obj)
                watcher.close()  # at once: the event may announce the fd's close (as gevent's select does)
                ready.set()
            watcher.start(fired)
            watchers.append(watcher)
    try:
        watch(rlist, 1, readable)   # libev's EV_READ
        watch(wlist, 2, writable)   # EV_WRITE
        ready.wait(timeout)
        return readable, writable, []
    finally:
        for watcher in watchers:
            watcher.stop()
            watcher.close()
