"""Starting a host step's process with CPython's own C ``fork_exec`` (vfork + exec), without ``Popen``.

``subprocess.Popen`` spends ~65 µs of Python per start (the object, its pipes and handles, encoding argv
and the environment, reading its error pipe) around the ~30 µs the C call itself costs; a pipeline of 20
`true` steps (each ~0.6 ms) pays that 20 times, while no step runs. :func:`start` makes the same C call
with what a step always passes — output and errors into one new pipe, stdin from ``/dev/null``, a new
process group, every other descriptor closed, signals restored — and reports an exec failure the way
``Popen`` does (``FileNotFoundError`` naming the program, or the working directory).

``_posixsubprocess.fork_exec`` is CPython's private helper of ``subprocess``; its argument list changes
between versions. :data:`AVAILABLE` is true only on the versions whose list is the one used here (3.11,
3.12); elsewhere :class:`~shipway.pipelines.spawn.Child` uses ``Popen`` (same behaviour, slower).
"""

from __future__ import annotations

import builtins
import os
import sys

try:
    import _posixsubprocess
except ImportError:  # pragma: no cover - not CPython on POSIX
    _posixsubprocess = None

AVAILABLE = _posixsubprocess is not None and sys.version_info[:2] in ((3, 11), (3, 12))


def _originals():
    """``(read, close, waitpid)`` as the kernel offers them: under gevent ``os.close`` defers to the event
    loop and ``os.waitpid`` waits on it — neither may run between the spawn and the child watcher's start."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return os.read, os.close, os.waitpid
    return tuple(monkey.get_original("os", n) for n in ("read", "close", "waitpid"))


_read, _close, _waitpid = _originals()


def _executables(program: str, env: dict[str, str]) -> list[bytes]:
    """Where exec tries ``program``: itself if it names a path, else each directory of the child's PATH."""
    name = os.fsencode(program)
    if os.path.dirname(name):
        return [name]
    return [os.path.join(os.fsencode(d), name) for d in os.get_exec_path(env)]


def _environment(env: dict[str, str]) -> list[bytes]:
    out = []
    for k, v in env.items():
        k, v = os.fsencode(k), os.fsencode(v)
        if not k or b"=" in k:
            raise ValueError(f"illegal environment variable name {k!r}")
        out.append(k + b"=" + v)
    return out


def start(argv: list[str], cwd: str, env: dict[str, str], stdin: int) -> tuple[int, int]:
    """Start ``argv`` in ``cwd`` with exactly ``env``, in a new process group; ``(pid, fd)`` where ``fd`` is
    the read end (close-on-exec) of the pipe its stdout and stderr write to. Raises ``OSError`` (the
    child's errno) if it cannot be started, with nothing left behind."""
    args = [os.fsencode(a) for a in argv]
    executables = _executables(argv[0], env)
    envb = _environment(env)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = _posixsubprocess.fork_exec(
            args, executables, True, (err_w,), cwd, envb,
            stdin, -1, -1, out_w,      # p2cread, p2cwrite, c2pread, c2pwrite
            -1, out_w,                 # errread, errwrite: stderr into the same pipe
            err_r, err_w,              # where the child reports a failed exec
            True, False, 0,            # restore_signals, call_setsid, pgid_to_set (its own group)
            None, None, None, -1,      # gid, extra_groups, uid, child_umask
            None, True)                # preexec_fn, allow_vfork
    except BaseException:
        for fd in (out_r, out_w, err_r, err_w):
            _close(fd)
        raise
    _close(out_w)
    _close(err_w)
    try:
        # EOF as soon as the exec succeeded (close-on-exec); vfork returns only after the exec or the exit.
        report = b""
        while part := _read(err_r, 50000):
            report += part
    finally:
        _close(err_r)
    if report:
        _close(out_r)
        _waitpid(pid, 0)  # it exited without running anything: reap it here (no watcher has it)
        raise _child_error(report, argv[0], cwd)
    return pid, out_r


def _child_error(report: bytes, program: str, cwd: str) -> BaseException:
    """The exception ``Popen`` raises for the child's report ``ExceptionName:hex errno:detail``."""
    try:
        name, hex_errno, detail = report.split(b":", 2)
        message = detail.decode(errors="replace")
    except ValueError:
        return OSError(f"bad exec report from the child: {report[:100]!r}")
    kind = getattr(builtins, name.decode("ascii", "replace"), None)
    if not (isinstance(kind, type) and issubclass(kind, OSError)) or not hex_errno:
        return OSError(message)
    errno_num = int(hex_errno, 16)
    # "noexec": it failed before the exec, i.e. at the chdir (newer versions say "noexec:chdir")
    filename = cwd if message.startswith("noexec") else program
    return kind(errno_num, os.strerror(errno_num) if errno_num else message, filename)
