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
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from shipway.pipelines.logs import FLUSH_SECONDS, LogWriter
from shipway.pipelines.pump import pump
from shipway.pipelines.spawn import Child

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


class HostProcess:
    """A started host step (:func:`start_host`): :meth:`finish` pumps its output and waits for its end."""

    def __init__(self, child: Child, writer: LogWriter, ctl: Control, deadline: float | None) -> None:
        self.child, self.writer, self.ctl, self.deadline = child, writer, ctl, deadline

    def kill(self) -> None:
        try:
            os.killpg(self.child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self) -> Outcome:
        """Pump the output to EOF and reap the process (killed by the watchdog on a cancel or past the
        deadline); the outcome."""
        watch = WATCHDOG.watch(self.ctl, self.deadline, self.writer, self.kill)
        try:
            pump(self.child.stdout, self.writer)
            code = self.child.wait()
        finally:
            WATCHDOG.done(watch)
            self.child.close()
        if watch.why:
            return Outcome(watch.why[0], code, "cancelled" if watch.why[0] == "aborted" else "timeout")
        return Outcome("succeeded" if code == 0 else "failed", code)


def start_host(argv: list[str], *, cwd: Path, env: dict[str, str], writer: LogWriter, ctl: Control,
               deadline: float | None) -> HostProcess | Outcome:
    """Start ``argv`` on the host in its own process group (on the vfork path, see :mod:`.spawn`); a failed
    :class:`Outcome` if it cannot start. The journal stores its urgent records while the process runs."""
    try:
        proc = Child(argv, cwd, env)
    except OSError as e:
        writer.line(f"cannot start {argv[0]!r}: {e.strerror}")
        return Outcome("failed", None, str(e))
    started = HostProcess(proc, writer, ctl, deadline)
    try:
        writer.spawned()
    except BaseException:  # not reached by a failed flush (logged by spawned): an interrupt; never leave it running
        started.kill()
        started.finish()
        raise
    return started


def run_host(argv: list[str], *, cwd: Path, env: dict[str, str], writer: LogWriter, ctl: Control,
             deadline: float | None) -> Outcome:
    """Run ``argv`` on the host to its end (:func:`start_host` then :meth:`HostProcess.finish`)."""
    started = start_host(argv, cwd=cwd, env=env, writer=writer, ctl=ctl, deadline=deadline)
    return started if isinstance(started, Outcome) else started.finish()


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
