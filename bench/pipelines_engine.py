"""Pipelines benchmarks (in-process engine on a temp data dir, in-memory queue; the issue's ratios).

1. engine overhead: a 20-step pipeline of `true` on the host vs the same 20 commands in one shell script
   (interleaved BENCH_REPS times, default 5: the machine is shared, medians hold better than one pair);
   20 container steps vs 20 `docker run --rm`;
2. log throughput: a step printing 100 MB with masking on vs the same command to /dev/null, with the
   default per-step log_limit (4 MiB stored, the rest read and discarded) and without a limit.
Run: .venv/bin/python bench/pipelines_engine.py [--no-docker] [--gevent] [--host-only | --logs-only]
(--gevent: monkey-patched like `shipway serve`; gevent's Popen forks the whole process instead of vfork)
"""

from __future__ import annotations

import sys

if "--gevent" in sys.argv:  # as under `shipway serve`: threads are greenlets, subprocess is gevent's
    from gevent import monkey
    monkey.patch_all()

import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from shipway.core.context import Context  # noqa: E402
from shipway.core.settings import load_settings  # noqa: E402
from shipway.pipelines import models, project_models  # noqa: E402,F401
from shipway.pipelines.executor import Executor  # noqa: E402
from shipway.pipelines.logs import DEFAULT_LIMIT, read_chunks  # noqa: E402
from shipway.pipelines.projects import ProjectService  # noqa: E402
from shipway.pipelines.queue import MemoryRunQueue  # noqa: E402
from shipway.pipelines.service import PipelineService  # noqa: E402
from support.gitrepo import GitRepo  # noqa: E402

# label -> (command, repetitions)
LOG_CMDS = {
    "yes | head -c 100M (fastest possible producer)":
        ("yes 'shipway log line with a token SECRET-abcdef-123456 inside it and more text' | head -c 100000000", 7),
    "yes | head -c 100M, the secret NOT in the output (masking on: the usual case)":
        ("yes 'shipway log line without any token inside it and some more text to fill it' | head -c 100000000", 7),
    "python printing 100 MB of numbered log lines":
        ("python3 -c 'import sys\nw = sys.stdout.write\nfor i in range(1250000): "
         "w(f\"{i:08d} INFO request handled token=SECRET-abcdef-123456 status=200 ms=12\\n\")'", 1),
}


def run_pipeline(svc, text: str | None, git: GitRepo, name: str, commit: str | None = None) -> tuple[float, dict]:
    """Commit ``text`` as the pipeline of a new project ``name`` (``None``: run project ``name`` again) and run it."""
    if text is not None:
        git.commit({".shipway.yml": text}, name)
        git.push()
        svc.ctx.services["projects"].add(name, git.url, branches=["main"], secrets={"tok": "SECRET-abcdef-123456"})
    t0 = time.perf_counter()
    r = svc.start_run(name, event=None, trigger="manual", params={"branch": "main", **({"commit": commit} if commit else {})})
    # Woken when the engine announces the run's end (stored already), not by polling the database (which
    # would compete with the run for the GIL and the database); the status is checked after, untimed.
    ENDS.wait(r["id"], 600)
    wall = time.perf_counter() - t0
    d = svc.run(r["id"], full=True)
    assert d["status"] == "succeeded", d
    d["wall"] = wall
    steps = [sp for st in d["stages"] for sp in st["steps"]]
    return sum(sp["duration"] for sp in steps), d


class RunEnds:
    """The projects' notifier (in a server it POSTs run results to a project's ``notify_url``): here it
    tells the bench, at once, which runs have ended."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ended: set[int] = set()

    def notify(self, _projects, _name: str, event: str, payload: dict) -> None:
        if event == "run.finished":
            with self._cond:
                self._ended.add(payload["run"]["id"])
                self._cond.notify_all()

    def report_status(self, *_a, **_kw) -> None:
        pass

    def wait(self, run_id: int, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: run_id in self._ended, timeout):
                raise TimeoutError(f"run {run_id} did not end within {timeout} s")


ENDS = RunEnds()


def _span(d: dict) -> float:
    st = d["stages"][0]["steps"]
    return (dt.datetime.fromisoformat(st[-1]["finished_at"]) - dt.datetime.fromisoformat(st[0]["started_at"])
            ).total_seconds()


def _timed(argv: list[str]) -> float:
    if "--gevent" in sys.argv:  # gevent's Popen forks the whole process: time the reference with posix_spawn
        from gevent import monkey
        waitpid = monkey.get_original("os", "waitpid")
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            t0 = time.perf_counter()
            pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)],
                                  setsigdef=(signal.SIGPIPE,))  # as subprocess does (restore_signals)
            _pid, status = waitpid(pid, 0)
            took = time.perf_counter() - t0
        finally:
            os.close(devnull)
        assert os.waitstatus_to_exitcode(status) == 0
        return took
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _ms(xs) -> str:
    return " ".join(f"{x * 1000:.0f}" for x in xs)


def host_overhead(svc, git: GitRepo, reps: int) -> None:
    """20 x /bin/true as 20 steps vs one shell script of the same 20 commands, interleaved ``reps`` times."""
    steps = "\n".join("      - argv: ['/bin/true']" for _ in range(20))
    # One project run again and again (its git cache warm, as for any project after its first run).
    run_pipeline(svc, f"stages:\n  - name: s\n    steps:\n{steps}\n", git, "overhead")
    script = ["sh", "-c", "\n".join(["/bin/true"] * 20)]
    walls, spans, refs, known = [], [], [], []
    for _i in range(reps):
        refs.append(_timed(script))
        _t, d = run_pipeline(svc, None, git, "overhead")
        walls.append(d["wall"])
        spans.append(_span(d))
        _t, d2 = run_pipeline(svc, None, git, "overhead", commit=d["commit"])
        known.append(d2["wall"])
    ref, span, wall, kn = (statistics.median(x) for x in (refs, spans, walls, known))
    print("engine overhead, 20 host steps of /bin/true vs a shell script of the same 20 commands "
          f"({reps} interleaved runs, ms):")
    print(f"  shell script                       {_ms(refs)}   median {ref * 1000:.1f}")
    print(f"  steps, first start -> last end     {_ms(spans)}   median {span * 1000:.1f}  -> {span / ref:.2f}x")
    print(f"  whole run (start_run -> finished,  {_ms(walls)}   median {wall * 1000:.1f}  -> {wall / ref:.2f}x")
    print("   incl. `git fetch` of the branch head + reading the pipeline there, queue, claim, records, end)")
    print(f"  whole run of a known commit        {_ms(known)}   median {kn * 1000:.1f}  -> {kn / ref:.2f}x")
    print("   (what a webhook starts: the pipeline file is read from the warm git cache, no fetch)")


def container_overhead(svc, git: GitRepo) -> None:
    """20 container steps vs 20 `docker run --rm`, the reference measured before AND after ours (the Docker
    daemon is shared with other benchmarks: bracketing shows how much it drifted)."""
    csteps = "\n".join("      - argv: ['true']" for _ in range(20))
    run_pipeline(svc, "stages:\n  - name: s\n    image: shipway/busybox:latest\n    steps:\n      - argv: ['true']\n",
                 git, "cwarm")

    def ref() -> float:
        return sum(_timed(["docker", "run", "--rm", "--label", "io.shipway.owner=bench", "shipway/busybox:latest",
                           "true"]) for _ in range(20))
    before = ref()
    _t, d = run_pipeline(svc, f"stages:\n  - name: s\n    image: shipway/busybox:latest\n    steps:\n{csteps}\n",
                         git, "containers")
    after = ref()
    mean = (before + after) / 2
    print(f"engine overhead, 20 container steps (shipway/busybox true): whole run {d['wall']:.2f} s vs 20 "
          f"`docker run --rm` {before:.2f} s before / {after:.2f} s after -> {d['wall'] / mean:.2f}x (vs their mean)")


def log_throughput(svc, git: GitRepo, tmp: Path, reps: int) -> None:
    """100 MB printed by a step (masking on; the secret on every line, or absent) vs the command to /dev/null."""
    # The floor of any uncapped store: writing 100 MB (distinct data, like a log) to a new file on this disk.
    chunks = [os.urandom(1 << 20) for _ in range(95)]
    floors = []
    for i in range(2):
        fd = os.open(tmp / f"floor{i}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        t0 = time.perf_counter()
        for c in chunks:
            os.write(fd, c)
        floors.append(time.perf_counter() - t0)
        os.close(fd)
        os.unlink(tmp / f"floor{i}")
    print(f"storage floor: writing 100 MB to a new file in the data dir takes {' '.join(f'{x:.3f}' for x in floors)} s "
          "(no engine involved)")
    for li, (label, (cmd, n)) in enumerate(LOG_CMDS.items()):
        for limit in (None, "0"):  # capped first: an uncapped run leaves ~100 MB to write back
            kind = "uncapped (log_limit: 0)" if limit == "0" else f"capped (default log_limit {DEFAULT_LIMIT >> 20} MiB)"
            refs, ours, stored, piped = [], [], 0, []
            for i in range(n if reps > 1 else 1):
                os.sync()  # untimed: the previous run's log is written back now, not during this pair
                refs.append(_timed(["sh", "-c", cmd + " > /dev/null"]))
                # the floor of capturing output at all: the same bytes through a pipe to a reader that does nothing
                piped.append(_timed(["sh", "-c", f"({cmd}) | cat > /dev/null"]))
                step_time, d = run_pipeline(
                    svc, (f"log_limit: {limit}\n" if limit else "") +
                    "stages:\n  - name: s\n    environment: {T: {from_secret: tok}}\n"
                    f"    steps:\n      - run: {json.dumps(cmd)}\n", git, f"logs{li}{limit or 'c'}{i}")
                ours.append(step_time)
                text = "".join(c[2] for c in read_chunks(svc.store, d["id"], 0, limit=100000))
                assert "SECRET-abcdef-123456" not in text and (li == 1 or "***" in text)
                stored = len(text.encode())
            ref, our = statistics.median(refs), statistics.median(ours)
            print(f"log throughput, {label}, {kind}: step {_ms(ours)} ms "
                  f"(stored {stored / 1e6:.1f} MB masked) vs same command to /dev/null "
                  f"{_ms(refs)} ms -> {our / ref:.2f}x (medians); through a pipe to `cat` "
                  f"{_ms(piped)} ms ({statistics.median(piped) / ref:.2f}x)")


def main() -> None:
    reps = int(os.environ.get("BENCH_REPS", "5"))
    tmp = Path(tempfile.mkdtemp(prefix="shipway-bench-"))
    ctx = Context.from_settings(load_settings({"data_dir": str(tmp / "data"), "secret_key": "x" * 32,
                                               "zk": "127.0.0.1:1", "registry": "127.0.0.1:1"}, env={}))
    ctx.store.create_all()
    ctx.services["projects"] = ProjectService(ctx.store, "k" * 32, ENDS)
    svc = PipelineService(ctx, MemoryRunQueue())
    ex = Executor(svc)
    ex.start()
    git = GitRepo(tmp / "git")
    try:
        if "--logs-only" not in sys.argv:
            host_overhead(svc, git, reps)
        if "--host-only" in sys.argv:
            return
        if "--no-docker" not in sys.argv and "--logs-only" not in sys.argv:
            container_overhead(svc, git)
        log_throughput(svc, git, tmp, reps)
    finally:
        ex.stop()
        ctx.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
    if "--gevent" in sys.argv:  # skip interpreter teardown: GitPython's cat-file helpers complain under gevent
        sys.stdout.flush()
        os._exit(0)
