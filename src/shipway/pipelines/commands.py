"""Running one command step on the host or inside a container, output into a :class:`LogWriter`.

Commands come from the pipeline file (the trusted author's code): ``run`` is
given to ``sh -c`` as ONE argument, ``argv`` is executed directly. Data from
the event (branch, commit message, author…) reaches the command only as
environment variables — it is never pasted into the command text.

One watchdog thread (for all steps of the process) flushes their logs every ~0.2 s, and kills
the process group (or the container) when the run is cancelled or the deadline passes.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from shipway.pipelines.logs import FLUSH_SECONDS, LogWriter
from shipway.pipelines.spawn import Child

READ_SIZE = 1 << 20
HANDOFF = 512 << 10
CONTAINER_WORKSPACE = "/workspace"
LABEL_OWNER = "io.shipway.owner"


@dataclass
class Outcome:
    """How a step ended: ``status`` is succeeded, failed, aborted or timed-out."""

    status: str
    exit_code: int | None = None
    message: str = ""


class Control:
    """Cancellation and deadline shared by everything a run executes."""

    def __init__(self, deadline: float | None = None) -> None:
        self.cancelled = threading.Event()
        self.deadline = deadline  # time.monotonic() value of the pipeline timeout
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = self.reason or reason
        self.cancelled.set()

    def step_deadline(self, timeout: float | None, *others: float | None) -> float | None:
        cands = [d for d in (self.deadline, *others) if d is not None]
        if timeout:
            cands.append(time.monotonic() + timeout)
        return min(cands) if cands else None


class Watch:
    """One running step under the :class:`Watchdog`: ``why`` becomes ['aborted'|'timed-out'] if it was killed."""

    def __init__(self, ctl: Control, deadline: float | None, writer: LogWriter, kill) -> None:
        self.ctl, self.deadline, self.writer, self.kill = ctl, deadline, writer, kill
        self.why: list[str] = []

    def tick(self) -> None:
        try:
            self.writer.flush()
        except Exception:  # noqa: BLE001 - a failed flush must not stop the watchdog
            pass
        if not self.why:
            if self.ctl.cancelled.is_set():
                self.why.append("aborted")
            elif self.deadline is not None and time.monotonic() >= self.deadline:
                self.why.append("timed-out")
            if self.why:
                try:
                    self.kill()
                except Exception:  # noqa: BLE001
                    pass


class Watchdog:
    """ONE thread for every running step of the process (not one per step): every ``FLUSH_SECONDS`` it
    stores their pending output and kills those cancelled or past their deadline. It exits when idle."""

    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._lock = threading.Lock()
        self._running = False

    def watch(self, ctl: Control, deadline: float | None, writer: LogWriter, kill) -> Watch:
        w = Watch(ctl, deadline, writer, kill)
        with self._lock:
            self._watches.add(w)
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, daemon=True, name="step-watchdog").start()
        return w

    def done(self, w: Watch) -> None:
        with self._lock:
            self._watches.discard(w)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            with self._lock:
                watches = list(self._watches)
                if not watches:
                    self._running = False
                    return
            for w in watches:
                w.tick()


WATCHDOG = Watchdog()


def run_host(argv: list[str], *, cwd: Path, env: dict[str, str], writer: LogWriter, ctl: Control,
             deadline: float | None) -> Outcome:
    """Run ``argv`` on the host in its own process group (started on the vfork path, see :mod:`.spawn`)."""
    try:
        proc = Child(argv, cwd, env)
    except OSError as e:
        writer.line(f"cannot start {argv[0]!r}: {e.strerror}")
        return Outcome("failed", None, str(e))

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    watch = WATCHDOG.watch(ctl, deadline, writer, kill)
    try:
        writer.spawned()
        _pump(proc.stdout, writer)
        code = proc.wait()
    finally:
        WATCHDOG.done(watch)
        proc.close()
    if watch.why:
        return Outcome(watch.why[0], code, "cancelled" if watch.why[0] == "aborted" else "timeout")
    return Outcome("succeeded" if code == 0 else "failed", code)


def _pump(out, writer: LogWriter) -> None:
    """Copy the step's output into ``writer`` until EOF.

    A fast producer's pipe yields ~10-60 KiB per read; reads are gathered into one buffer and handed to the
    writer (mask, store) when it holds ``HANDOFF`` bytes or when the pipe has nothing more right now — so a
    chatty step costs a few hundred hand-offs per 100 MB, and a quiet one's lines are passed on at once.
    The pipe object is used, not os.read on its fd: under gevent the pipe is cooperative, os.read is not.
    """
    readinto = getattr(out, "readinto", None)
    if readinto is None:  # pragma: no cover - a pipe object without readinto
        while data := out.read(READ_SIZE):
            writer.write_bytes(data)
            if writer.truncated:
                return _drain(out, writer)
        return None
    fd = out.fileno()
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
            filled = 0
            if writer.truncated:  # past log_limit: read and discard without masking or copying
                return _drain(out, writer)
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


def _drain(out, writer: LogWriter) -> None:
    scratch = _buffer()
    readinto = getattr(out, "readinto", None)
    total = 0
    while True:
        n = readinto(scratch) if readinto is not None else len(out.read(READ_SIZE))
        if not n:
            break
        total += n
    writer.discard(total)


def run_container(docker, image: str, argv: list[str], *, workspace: Path, workdir: str, env: dict[str, str],
                  writer: LogWriter, ctl: Control, deadline: float | None, labels: dict[str, str]) -> Outcome:
    """Run ``argv`` in ``image`` with the workspace mounted at /workspace; the container is always removed.

    Uses the low-level API (create, attach, start, wait — what ``docker run`` does) to avoid the
    high-level client's extra inspect calls per container.
    """
    import docker as docker_sdk

    api = docker.api
    try:
        cid = api.create_container(
            image, command=argv, working_dir=f"{CONTAINER_WORKSPACE}/{workdir}".rstrip("/"), environment=env,
            labels=labels, host_config=api.create_host_config(
                binds={str(workspace): {"bind": CONTAINER_WORKSPACE, "mode": "rw"}}, network_mode="bridge"))["Id"]
    except docker_sdk.errors.ImageNotFound:
        writer.line(f"image {image} not found (shipway never pulls from Docker Hub; build or push it first)")
        return Outcome("failed", None, "image not found")
    except docker_sdk.errors.APIError as e:
        writer.line(f"cannot create the container: {e.explanation or e}")
        return Outcome("failed", None, str(e))

    def kill() -> None:
        try:
            api.kill(cid)
        except docker_sdk.errors.APIError:
            pass

    watch = WATCHDOG.watch(ctl, deadline, writer, kill)
    code = None
    try:
        sock_stream = api.attach(cid, stdout=True, stderr=True, stream=True, logs=True)
        api.start(cid)
        writer.spawned()
        for data in sock_stream:
            writer.write_bytes(data)  # past log_limit this only counts the bytes
        code = api.wait(cid).get("StatusCode")
    except docker_sdk.errors.APIError as e:
        writer.line(f"container failed: {e.explanation or e}")
    finally:
        WATCHDOG.done(watch)
        # Removal does not decide anything: do it beside the next step (as `docker run --rm` leaves it
        # to the daemon) instead of making the run wait for it.
        threading.Thread(target=_remove, args=(api, cid), daemon=True, name="container-rm").start()
    if watch.why:
        return Outcome(watch.why[0], code, "cancelled" if watch.why[0] == "aborted" else "timeout")
    return Outcome("succeeded" if code == 0 else "failed", code)


def _remove(api, cid: str) -> None:
    import docker as docker_sdk
    try:
        api.remove_container(cid, force=True)
    except docker_sdk.errors.APIError:
        pass


def base_env(extra: dict[str, str]) -> dict[str, str]:
    """A small, predictable environment for host steps (not the server's own environment)."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ", "DOCKER_HOST") if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra)
    return env
