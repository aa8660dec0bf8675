"""Pipelines benchmarks (in-process engine on a temp data dir, in-memory queue; the issue's ratios).

1. engine overhead: a 20-step pipeline of `true` on the host vs the same 20 commands in one shell script;
2. log throughput: a step printing 100 MB with masking on vs the same command to /dev/null.
Run: .venv/bin/python bench/pipelines_engine.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from shipway.core.context import Context  # noqa: E402
from shipway.core.settings import load_settings  # noqa: E402
from shipway.pipelines import models, project_models  # noqa: E402,F401
from shipway.pipelines.executor import Executor  # noqa: E402
from shipway.pipelines.projects import ProjectService  # noqa: E402
from shipway.pipelines.queue import MemoryRunQueue  # noqa: E402
from shipway.pipelines.service import PipelineService  # noqa: E402
from support.gitrepo import GitRepo  # noqa: E402

LOG_CMDS = {
    "yes | head -c 100M (fastest possible producer)":
        "yes 'shipway log line with a token SECRET-abcdef-123456 inside it and more text' | head -c 100000000",
    "python printing 100 MB of numbered log lines":
        "python3 -c 'import sys\nw = sys.stdout.write\nfor i in range(1250000): "
        "w(f\"{i:08d} INFO request handled token=SECRET-abcdef-123456 status=200 ms=12\\n\")'",
}


def run_pipeline(svc, text: str, git: GitRepo, name: str) -> float:
    git.commit({".shipway.yml": text}, name)
    git.push()
    svc.ctx.services["projects"].add(name, git.url, branches=["main"], secrets={"tok": "SECRET-abcdef-123456"})
    t0 = time.perf_counter()
    r = svc.start_run(name, event=None, trigger="manual", params={"branch": "main"})
    while svc.run(r["id"])["status"] not in ("succeeded", "failed"):
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    d = svc.run(r["id"], full=True)
    assert d["status"] == "succeeded", d
    d["wall"] = wall
    steps = [sp for st in d["stages"] for sp in st["steps"]]
    return sum(sp["duration"] for sp in steps), d


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shipway-bench-"))
    ctx = Context.from_settings(load_settings({"data_dir": str(tmp / "data"), "secret_key": "x" * 32,
                                               "zk": "127.0.0.1:1", "registry": "127.0.0.1:1"}, env={}))
    ctx.store.create_all()
    ctx.services["projects"] = ProjectService(ctx.store, "k" * 32, None)
    svc = PipelineService(ctx, MemoryRunQueue())
    ex = Executor(svc)
    ex.start()
    git = GitRepo(tmp / "git")
    # 1. 20 x `true`: whole run wall time (queue → end) vs a 20-line shell script
    steps = "\n".join("      - argv: ['/bin/true']" for _ in range(20))
    run_pipeline(svc, "stages:\n  - name: s\n    steps:\n      - argv: ['/bin/true']\n", git, "warm")
    steps_time, d = run_pipeline(svc, f"stages:\n  - name: s\n    steps:\n{steps}\n", git, "overhead")
    ours = d["wall"]
    st = d["stages"][0]["steps"]
    import datetime as dt
    span = (dt.datetime.fromisoformat(st[-1]["finished_at"]) - dt.datetime.fromisoformat(st[0]["started_at"]))
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", "\n".join(["/bin/true"] * 20)], check=True)
    ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", "\n".join(["true"] * 20)], check=True)
    ref_builtin = time.perf_counter() - t0
    print(f"engine overhead, 20 host steps of /bin/true: whole run {ours * 1000:.0f} ms (start_run → finished, incl. "
          f"reading + validating the pipeline at the commit), steps first start → last end "
          f"{span.total_seconds() * 1000:.0f} ms; shell script of 20 /bin/true {ref * 1000:.1f} ms "
          f"(-> {ours / ref:.1f}x whole run, {span.total_seconds() / ref:.1f}x steps only); "
          f"20 builtin `true` {ref_builtin * 1000:.1f} ms")
    # 1b. 20 container steps vs 20 `docker run --rm`
    csteps = "\n".join("      - argv: ['true']" for _ in range(20))
    run_pipeline(svc, "stages:\n  - name: s\n    image: shipway/busybox:latest\n    steps:\n      - argv: ['true']\n",
                 git, "cwarm")
    _t, d = run_pipeline(svc, f"stages:\n  - name: s\n    image: shipway/busybox:latest\n    steps:\n{csteps}\n",
                         git, "containers")
    t0 = time.perf_counter()
    for _ in range(20):
        subprocess.run(["docker", "run", "--rm", "--label", "io.shipway.owner=bench", "shipway/busybox:latest", "true"],
                       check=True, stdout=subprocess.DEVNULL)
    ref = time.perf_counter() - t0
    print(f"engine overhead, 20 container steps (shipway/busybox true): whole run {d['wall']:.2f} s vs 20 "
          f"`docker run --rm` {ref:.2f} s -> {d['wall'] / ref:.2f}x")
    # 2. 100 MB log with masking (the secret occurs on every line)
    for label, cmd in LOG_CMDS.items():
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", cmd + " > /dev/null"], check=True)
        ref = time.perf_counter() - t0
        name = f"logs{abs(hash(label)) % 10000}"
        (tmp / "cmd.sh").write_text(cmd + "\n")
        step_time, d = run_pipeline(svc, "stages:\n  - name: s\n    environment: {T: {from_secret: tok}}\n"
                                    "    steps:\n      - argv: [sh, -c, 'sh /dev/stdin < $CMD']\n"
                                    f"        environment: {{CMD: '{tmp / 'cmd.sh'}'}}\n", git, name)
        size = sum(len(c[2]) for c in __import__("shipway.pipelines.logs", fromlist=["x"]).read_chunks(
            ctx.store, d["id"], 0, limit=100000))
        print(f"log throughput, {label}: step {step_time:.2f} s (stored {size / 1e6:.0f} MB masked) vs same "
              f"command to /dev/null {ref:.2f} s -> {step_time / ref:.2f}x")
    ex.stop()
    ctx.close()


if __name__ == "__main__":
    main()
