"""Running one command step on the host or inside a container, output into a :class:`LogWriter`.

Commands come from the pipeline file (the trusted author's code): ``run`` is
given to ``sh -c`` as ONE argument, ``argv`` is executed directly. Data from
the event (branch, commit message, author…) reaches the command only as
environment variables — it is never pasted into the command text.

A watchdog thread per step flushes the log every ~0.2 s, and kills the process
group (or the container) when the run is cancelled or the deadline passes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from shipway.pipelines.logs import FLUSH_SECONDS, LogWriter

READ_SIZE = 1 << 20
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


def _watch(stop: threading.Event, ctl: Control, deadline: float | None, writer: LogWriter, kill) -> list[str]:
    """Flush periodically; on cancel or deadline call ``kill`` once. Returns ['aborted'|'timed-out'] if it did."""
    why: list[str] = []

    def loop() -> None:
        while not stop.wait(FLUSH_SECONDS):
            try:
                writer.flush()
            except Exception:  # noqa: BLE001 - a failed flush must not stop the watchdog
                pass
            if not why:
                if ctl.cancelled.is_set():
                    why.append("aborted")
                elif deadline is not None and time.monotonic() >= deadline:
                    why.append("timed-out")
                if why:
                    kill()

    threading.Thread(target=loop, daemon=True, name="step-watchdog").start()
    return why


def run_host(argv: list[str], *, cwd: Path, env: dict[str, str], writer: LogWriter, ctl: Control,
             deadline: float | None) -> Outcome:
    """Run ``argv`` on the host in its own process group."""
    try:
        proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        writer.line(f"cannot start {argv[0]!r}: {e.strerror}")
        return Outcome("failed", None, str(e))

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    try:  # a 1 MiB pipe: 16x fewer reads (and wake-ups) than the 64 KiB default for chatty steps
        import fcntl
        fcntl.fcntl(proc.stdout.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass
    stop = threading.Event()
    why = _watch(stop, ctl, deadline, writer, kill)
    try:
        # read1 on the pipe object, not os.read on its fd: under gevent the pipe is cooperative, os.read is not
        read = getattr(proc.stdout, "read1", None) or proc.stdout.read
        while True:
            data = read(READ_SIZE)
            if not data:
                break
            writer.write_bytes(data)
        code = proc.wait()
    finally:
        stop.set()
        proc.stdout.close()
    if why:
        return Outcome(why[0], code, "cancelled" if why[0] == "aborted" else "timeout")
    return Outcome("succeeded" if code == 0 else "failed", code)


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

    stop = threading.Event()
    why = _watch(stop, ctl, deadline, writer, kill)
    code = None
    try:
        sock_stream = api.attach(cid, stdout=True, stderr=True, stream=True, logs=True)
        api.start(cid)
        for data in sock_stream:
            writer.write_bytes(data)
        code = api.wait(cid).get("StatusCode")
    except docker_sdk.errors.APIError as e:
        writer.line(f"container failed: {e.explanation or e}")
    finally:
        stop.set()
        # Removal does not decide anything: do it beside the next step (as `docker run --rm` leaves it
        # to the daemon) instead of making the run wait for it.
        threading.Thread(target=_remove, args=(api, cid), daemon=True, name="container-rm").start()
    if why:
        return Outcome(why[0], code, "cancelled" if why[0] == "aborted" else "timeout")
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
