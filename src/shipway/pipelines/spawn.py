"""Starting a host step's process on CPython's vfork path — also under gevent.

Plain CPython: ``subprocess.Popen`` without a preexec function (``process_group=0`` instead of a
``setpgid`` hook) uses ``_posixsubprocess.fork_exec`` with ``vfork()``: ~0.3 ms, whatever the size of
the server process. :class:`Child` makes that C call itself (:mod:`.vfork`, without ``Popen``'s Python
around it) where it knows the interpreter's version, else it uses the original ``Popen``.

Under gevent's monkey patching (``shipway serve``) ``subprocess.Popen`` is gevent's, which forks the
WHOLE server with ``os.fork()`` and runs Python in the child: ~5 ms per step in a server-sized process
(measured: 20 `true` steps took 111 ms instead of 20 ms). So under gevent too the process starts on the
vfork path as above, and the two things that would block the event loop are made cooperative:

* the output pipe is read non-blocking, waiting for data on the hub (:class:`CooperativePipe`);
* the exit status comes from a libev child watcher. libev reaps EVERY child when SIGCHLD arrives, but only
  inside a loop iteration; nothing between the spawn and the watcher's start yields to the loop (the
  original ``Popen`` only does blocking, non-cooperative syscalls), so the watcher always exists before
  the child can be reaped, and it receives the status.

GitPython's `git` processes (fetch, clone, the persistent `cat-file`) go the same way:
:func:`use_vfork_for_gitpython` gives it gevent's ``Popen`` (cooperative pipes, ``wait`` and
``communicate``) with the process started by the original code on the vfork path. Forking the whole server
for a `git fetch` cost ~1,100 page faults afterwards (every page the server then wrote had been made
copy-on-write): 2-4 ms added to the next 20 steps, measured.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shipway.pipelines import vfork


PAUSE_SECONDS = 1e-6  # CooperativePipe.pause: the shortest timer, i.e. one turn of the event loop
_vfork_popen = None
_patched: bool | None = None  # is subprocess monkey-patched (gevent)? Decided at startup, asked per step
_devnull: int | None = None   # see devnull()
_vfork_gevent_popen = None


def _original_popen():
    """The stdlib ``Popen`` with the C ``fork_exec`` (vfork) even though gevent is patched in.

    gevent keeps the original class but sets the stdlib module's ``_fork_exec`` to ``None`` and replaces
    ``os.close`` by a version that defers the close to the event loop (which must not run here: the
    errpipe would never see EOF). So ``_execute_child`` and ``_close_pipe_fds`` run here with a copy of the
    module globals where ``_fork_exec`` is the real one and ``os`` has the original functions (the stdlib
    module itself is not touched: gevent's Popen and every other caller see what they saw).
    """
    global _vfork_popen
    if _vfork_popen is None:
        import _posixsubprocess
        import types

        from gevent import monkey
        base = monkey.get_original("subprocess", "Popen")
        real_os = types.ModuleType("os")
        real_os.__dict__.update(os.__dict__)
        for name in ("close", "read", "write", "pipe", "dup", "waitpid", "fork"):
            if hasattr(os, name):
                setattr(real_os, name, monkey.get_original("os", name))
        glb = dict(base._execute_child.__globals__, _fork_exec=_posixsubprocess.fork_exec, os=real_os)

        def rebuilt(fn):
            return types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, fn.__closure__)
        _vfork_popen = type("VforkPopen", (base,), {"_execute_child": rebuilt(base._execute_child),
                                                     "_close_pipe_fds": rebuilt(base._close_pipe_fds)})
    return _vfork_popen


def _gevent_popen_on_vfork():
    """gevent's ``Popen`` whose ``_execute_child`` is the original one on the vfork path (see the module doc)."""
    global _vfork_gevent_popen
    if _vfork_gevent_popen is None:
        from gevent.subprocess import Popen as GeventPopen
        vfork = _original_popen()

        class VforkGeventPopen(GeventPopen):
            _close_pipe_fds = vfork._close_pipe_fds  # used by the original _execute_child

            def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env,
                               universal_newlines, *rest):
                if preexec_fn is not None:  # Python code in the child: only a real fork can run it
                    return super()._execute_child(args, executable, preexec_fn, close_fds, pass_fds, cwd, env,
                                                  universal_newlines, *rest)
                self._loop.install_sigchld()
                *rest, process_group = rest  # gevent's "none" is None, the C code's is -1
                vfork._execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, *rest,
                                     -1 if process_group is None else process_group)
                # No yield since the spawn: the watcher exists before libev can reap the child.
                watcher = self._loop.child(self.pid, False)
                watcher.start(self._exited, watcher)
                return None

            def _exited(self, watcher) -> None:
                try:
                    self._on_child(watcher)  # gevent's: sets returncode and wakes wait()
                finally:
                    watcher.close()
        _vfork_gevent_popen = VforkGeventPopen
    return _vfork_gevent_popen


def use_vfork_for_gitpython() -> None:
    """Under gevent, make GitPython start its `git` processes on the vfork path (idempotent; a no-op
    without gevent, where ``subprocess.Popen`` already uses vfork)."""
    if _hub() is None:
        return
    import git.cmd
    git.cmd.safer_popen = _gevent_popen_on_vfork()


def _hub():
    """The gevent hub when subprocess is monkey-patched, else ``None``."""
    global _patched
    if _patched is None:
        try:
            from gevent import monkey
        except ImportError:  # pragma: no cover - gevent is a dependency
            _patched = False
        else:
            _patched = monkey.is_module_patched("subprocess")
    if not _patched:
        return None
    from gevent.hub import get_hub
    return get_hub()


def devnull() -> int:
    """``/dev/null`` opened once for the whole process (read-write, close-on-exec): every host step's stdin
    (the child gets it as its fd 0 only) and where the drain past ``log_limit`` splices output (pump.py),
    instead of an open and a close per step."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull


def _cpu_getter():
    """``sched_getcpu`` (glibc, through the vDSO: ~0.1 µs), or ``None`` where it cannot be had."""
    try:
        import ctypes
        return ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


_this_cpu = _cpu_getter()


def move_off_this_cpu(pid: int) -> None:
    """Let a just-started step run on another core than the server thread that started it.

    After the vfork, Linux usually leaves the new process on the starting thread's own core, which goes on
    at once with its own work: the journal storing the stage's records, ending the previous step, preparing
    the next. The step then waits for that thread (measured with ``/proc/<pid>/schedstat``: a `true` step
    took 1.4 ms instead of 0.6 while the journal stored the stage's records) while the other core idles.
    Allowing it every CPU but this one moves it at once; giving it back the full set right after leaves it
    where it now runs, with the same CPUs as before for it and every process it starts. The two calls are
    microseconds apart; a program just exec'd takes longer than that to start up and fork (only if this thread
    were preempted right between them could it), and a child forked then would have every CPU but one.
    Measured (bench/pipelines_engine.py, 20 `true` steps under gevent, 3 interleaved A/B pairs): a whole
    run of a known commit 1.54-1.60x the shell script without, 1.42x with; steps only 1.38-1.45x without,
    1.23-1.29x with. Nothing is done on a single-CPU machine or when the kernel refuses."""
    if _this_cpu is None:
        return
    try:
        allowed = os.sched_getaffinity(0)
        cpu = _this_cpu()
        if len(allowed) < 2 or cpu not in allowed:
            return
        os.sched_setaffinity(pid, allowed - {cpu})
        os.sched_setaffinity(pid, allowed)
    except OSError:  # it has ended already (a fast step), or we may not: the kernel places it as before
        pass


class CooperativePipe:
    """The read end of a step's output pipe under gevent: non-blocking reads that wait for data on the event
    loop. (gevent's ``FileObjectPosix`` does the same through an io stack built per step: ~0.1 ms of a
    `true` step.) The pipe itself is closed by :meth:`Child.close`."""

    #: reads wait on the event loop: what blocks (the drain past log_limit) goes to a native thread (pump.py)
    cooperative = True

    def __init__(self, pipe) -> None:
        from gevent import sleep
        from gevent.socket import wait_read
        self._wait_read, self._sleep = wait_read, sleep
        self._fd = pipe.fileno()
        os.set_blocking(self._fd, False)

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buf) -> int:
        while True:
            try:
                return os.readv(self._fd, [buf])
            except BlockingIOError:
                self._wait_read(self._fd)

    def pause(self) -> None:
        """Let the event loop run once (timers, I/O, other greenlets) before going on: a timer, since a
        ``sleep(0)`` only runs the greenlets already scheduled, not the loop."""
        self._sleep(PAUSE_SECONDS)

    def read(self, n: int = -1) -> bytes:
        buf = bytearray(n if n > 0 else 1 << 16)
        return bytes(buf[:self.readinto(memoryview(buf))])


class Child:
    """A started host step: ``pid``, ``stdout`` (readable with ``readinto``), :meth:`wait`, :meth:`close`.

    Started with :func:`.vfork.start` (CPython's C ``fork_exec`` without ``Popen``'s Python around it) where
    the interpreter is one it knows, else with the original ``Popen``: both on the vfork path."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        hub = _hub()
        if hub is not None:
            hub.loop.install_sigchld()  # what gevent's Popen does first: child watchers need SIGCHLD
        self.proc = None
        if vfork.AVAILABLE:
            self.pid, fd = vfork.start(argv, str(cwd), env, devnull())
            pipe = open(fd, "rb", buffering=0)  # one read(2) per read: whatever the pipe holds
        else:
            popen = subprocess.Popen if hub is None else _original_popen()
            # bufsize=0: each read is one read(2) of whatever the pipe holds.
            self.proc = popen(argv, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=devnull(), process_group=0, bufsize=0)
            self.pid, pipe = self.proc.pid, self.proc.stdout
        self._pipe = self.stdout = pipe
        move_off_this_cpu(self.pid)
        self._watcher = None
        if hub is not None:
            # No yield since the spawn: the watcher is started before libev can reap the child.
            from gevent.hub import Waiter
            # A Waiter, not an Event: the watcher's callback switches straight to the waiting greenlet
            # (an Event would notify it one more loop iteration later).
            self._exited = Waiter()
            self._watcher = hub.loop.child(self.pid, False)
            self._watcher.start(self._exited.switch, None)
            self.stdout = CooperativePipe(pipe)

    def wait(self) -> int:
        """The exit code (``-N`` for a signal), like ``Popen.wait``; cooperative under gevent."""
        if self._watcher is None:
            if self.proc is not None:
                return self.proc.wait()
            _pid, status = os.waitpid(self.pid, 0)
            return os.waitstatus_to_exitcode(status)
        self._exited.get()
        status = self._watcher.rstatus
        self._watcher.stop()
        code = os.waitstatus_to_exitcode(status)
        if self.proc is not None:
            self.proc.returncode = code  # libev reaped it: Popen must never wait for it again
        return code

    def close(self) -> None:
        self._pipe.close()
