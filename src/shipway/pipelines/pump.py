"""Reading a step's output pipe into its :class:`~shipway.pipelines.logs.LogWriter` (host steps).

:func:`pump` gathers reads into one buffer and hands them on in large pieces (or at once when the pipe is
quiet); past the step's ``log_limit`` :func:`drain` throws the rest away without copying it into Python.
"""

from __future__ import annotations

import os
import select
import threading

from shipway.pipelines.logs import LogWriter
from shipway.pipelines.spawn import devnull

READ_SIZE = 1 << 20
HANDOFF = 512 << 10
SPIN = 32  # empty-pipe retries of the drain before it sleeps, after a big piece (see drain)
SPIN_AFTER = 4 << 10
DRAIN_THREADS = 64  # under gevent: steps draining at once (more wait for a thread; their producers block)
DRAIN_NICE = 10  # the drain threads' nice value: see _splice_rest_niced


def pump(out, writer: LogWriter) -> None:
    """Copy the step's output into ``writer`` until EOF.

    A fast producer's pipe yields ~10-60 KiB per read; reads are gathered into one buffer and handed to the
    writer (mask, store) when it holds ``HANDOFF`` bytes or when the pipe has nothing more right now — so a
    chatty step costs a few hundred hand-offs per 100 MB, and a quiet one's lines are passed on at once.
    The pipe object is used, not os.read on its fd: under gevent the pipe is cooperative, os.read is not;
    and there it pauses after each full hand-off, since masking a step that prints without a break would
    otherwise keep the event loop (every request of the server) waiting until the step ends.
    """
    readinto = getattr(out, "readinto", None)
    if readinto is None:  # pragma: no cover - a pipe object without readinto
        while data := out.read(READ_SIZE):
            writer.write_bytes(data)
            if writer.truncated:
                return drain(out, writer)
        return None
    fd = out.fileno()
    pause = getattr(out, "pause", None)
    buf = _buffer()
    filled = 0
    grown = False
    while True:
        n = readinto(buf[filled:])
        if not n:
            break
        filled += n
        if not grown and n >= 1 << 16:
            grown = _grow_pipe(fd)  # a full default pipe: a chatty step
        if filled >= HANDOFF or not _readable(fd):
            writer.write_bytes(buf[:filled])
            if writer.truncated:  # past log_limit: read and discard without masking or copying
                return drain(out, writer)
            if filled >= HANDOFF and pause is not None:
                pause()  # the pipe may never run dry: let the rest of the server run between hand-offs
            filled = 0
    if filled:
        writer.write_bytes(buf[:filled])
    return None


def _grow_pipe(fd: int) -> bool:
    """A 1 MiB pipe: 16x fewer reads (and wake-ups) than the 64 KiB default. Only for chatty steps (asking the
    kernel for a big pipe costs ~0.1 ms, a noticeable part of a `true` step)."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ValueError):
        pass
    return True


_local = threading.local()


def _buffer() -> memoryview:
    """This thread's read buffer (the writer copies what it keeps, so one buffer per thread is reused)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(bytearray(READ_SIZE))
    return buf


def _poll_now():
    """``select.poll`` as the kernel offers it (gevent replaces it by a version that waits on its loop); poll,
    not select: a busy server's pipe fds can be above select's 1024 limit."""
    try:
        from gevent import monkey
        return monkey.get_original("select", "poll")
    except ImportError:  # pragma: no cover - gevent is a dependency
        return select.poll


_POLL = _poll_now()


def _readable(fd: int) -> bool:
    """Whether the pipe has more output right now (without waiting)."""
    p = _POLL()
    p.register(fd, select.POLLIN)
    try:
        return bool(p.poll(0))
    except OSError:
        return False


def _wait_readable(fd: int) -> None:
    """Block this (native) thread until ``fd`` has data or its end."""
    p = _POLL()
    p.register(fd, select.POLLIN)
    p.poll()


def drain(out, writer: LogWriter) -> None:
    """Past ``log_limit``: read the rest of the step's output and throw it away (counted, never stored).

    Spliced into ``/dev/null`` where the kernel can (:func:`splice_rest`): the bytes never reach Python.
    Under gevent (``shipway serve``) the splice loop runs in a native thread (:func:`_drain_pool`): it touches
    nothing but the pipe's fd, and a blocking splice there wakes as soon as the producer writes, where waiting
    on the event loop took a trip through it at every empty pipe (100 MB of ``yes``: ~9 ms less) — and the
    event loop stays free for requests meanwhile. Where splice is refused, the rest is read and counted.

    Measured and not kept (2026-11-24): reading the last ``log_limit`` bytes ahead unmasked and starting this
    drain before masking them, to overlap the two. Masking holds the GIL, so the drain thread barely ran until
    it ended (100 MB of ``yes``, the secret on every line: 46 ms either way); yielding the GIL every 64 KiB
    made both slower. Nor does sleeping ~0.1 ms instead of spinning on an empty pipe help (1.8-2.3x).
    Why some runs of that case are slow (measured with the thread's ``/proc`` schedstat): when `yes` and `head`
    share one core, this thread has the other to itself and the drain takes as long as the command alone; when
    they spread over both, it is time-sliced with one of them (~800 slices instead of ~10, 20-30 ms waiting
    for a CPU) and the drain takes up to twice as long. ``sched_yield`` on an empty pipe made the slow runs less
    slow and the others slower (medians 1.43-1.53x against 1.39-1.44x, 4 pairs): not kept."""
    fd = out.fileno()
    total, done = 0, False
    if hasattr(os, "splice"):
        pool = _drain_pool(out)
        if pool is None:
            total, done = splice_rest(fd)
        else:
            os.set_blocking(fd, True)  # only the native thread reads the pipe until it returns
            try:
                total, done = pool.apply(_splice_rest_niced, (fd,))
            finally:
                os.set_blocking(fd, False)
    if not done:
        scratch = _buffer()
        readinto = getattr(out, "readinto", None)
        while True:
            n = readinto(scratch) if readinto is not None else len(out.read(READ_SIZE))
            if not n:
                break
            total += n
    writer.discard(total)


_pool = None


def _drain_pool(out):
    """Under gevent (``out`` is a :class:`~.spawn.CooperativePipe`): the native threads that drain, else ``None``.

    A pool of our own, not the hub's: a drain lasts as long as its step prints, and the hub's pool also
    resolves host names for the whole server — long drains there would hold up every DNS lookup."""
    global _pool
    if not getattr(out, "cooperative", False):
        return None
    if _pool is None:
        from gevent.threadpool import ThreadPool
        _pool = ThreadPool(DRAIN_THREADS)
    return _pool


def _splice_rest_niced(fd: int) -> tuple[int, bool]:
    """:func:`splice_rest` in a drain thread of the pool, at nice ``DRAIN_NICE``: throwing output away must not
    take a CPU from anything that wants it, the step that prints it first of all.

    Measured with the thread's ``/proc`` schedstat (100 MB of `yes`, the secret on every line, 2 cores): when
    `yes` and `head` spread over both cores, this spinning thread was time-sliced with one of them (~800 slices,
    20-30 ms waiting for a CPU) and the drain took up to twice as long as the command alone; at nice 10 the
    producer runs first, fills the pipe, and the drain empties it when it blocks. Median step over 7 runs: 1.32-1.45x
    the command alone at nice 10, 1.39-1.59x without (7 interleaved pairs), and no step slower than 1.6x (up to
    2.5x without). When the thread has a core to itself its priority changes nothing. Set at every drain
    (one system call): the pool's threads do nothing else."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DRAIN_NICE)
    except OSError:  # not permitted here: the drain works as before
        pass
    return splice_rest(fd)


def splice_rest(fd: int) -> tuple[int, bool]:
    """Splice the blocking pipe ``fd`` into ``/dev/null`` until its end: ``(bytes moved, reached the end)``;
    not at the end when the kernel refused splice (not a pipe, an old kernel): the caller reads the rest.

    When the last splice took a big piece (``SPIN_AFTER``: the producer outpaces us), an empty pipe is retried
    ``SPIN`` times before the thread sleeps in a blocking splice — such a producer writes again within
    microseconds, and sleeping at every empty pipe made it wait for each wake-up (100 MB of ``yes``: 1.45x the
    command alone instead of 2.4x). After a small piece it sleeps at once: a slow producer costs no spinning."""
    total = 0
    nonblocking = getattr(os, "SPLICE_F_NONBLOCK", 0)
    empty = SPIN  # empty-pipe retries since the last piece (SPIN: sleep at once)
    while True:
        try:
            n = os.splice(fd, devnull(), 1 << 20, flags=nonblocking if empty < SPIN else 0)
        except BlockingIOError:
            if empty < SPIN:
                empty += 1
            else:  # the pipe is non-blocking after all: wait here for data, never spin
                _wait_readable(fd)
            continue
        except OSError:
            return total, False
        if not n:
            return total, True
        total, empty = total + n, 0 if n >= SPIN_AFTER else SPIN
