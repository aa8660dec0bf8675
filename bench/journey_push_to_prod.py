"""Push-to-production time of the example service: shipway vs a plain shell script, in the same run.

shipway: `git push` → webhook → fetch, test (in a container), build, push, deploy to staging (rolling
update, readiness), approve (decided by this script through the API the moment it waits; the waiting
time is subtracted), deploy to prod → prod Deployment available. Measured from the push to prod ready.

Reference: the developer pushes to a plain bare repository (no hook) and runs a bash script doing the
same work by hand, timed from the start of the push as ours is: git clone, run the tests in a container,
docker build, docker push, then replace 2 staging + 2 prod containers and wait until each answers
/readyz (the app's readiness, which needs its config from shipway, as in the pipeline). Like our pods,
its containers are on the project bridge with their port published on 127.0.0.1 (the project's rule
for reaching containers from the host), and reach shipway through the pods' forwarder.

One warm-up round of each is run first and not counted (the first push uploads the base image's
layers to the fresh registry). Both sides print a per-stage breakdown.

Usage: .venv/bin/python bench/journey_push_to_prod.py [--rounds 3]
Bounded: a few rounds, each with its own deadline; everything it starts is stopped at the end, and
the images it built (and only those) are removed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import git  # noqa: E402
import requests  # noqa: E402

from support.journey import Shipway  # noqa: E402
from support.server import LiveServer  # noqa: E402
from support.waiting import wait_for  # noqa: E402

LABEL = "org.shipway.bench=journey"

# The reference: the same work by hand. Its containers run like our pods do: on the project's Docker
# bridge, with the app's port published on 127.0.0.1 (an ephemeral port, read back with `docker port`),
# reaching shipway's config center through the same forwarder the pods use ($SHIPWAY_URL, read from a
# running pod). Each phase prints a timestamp on stderr for the breakdown.
SCRIPT = r"""
set -euo pipefail
mark() { echo "@@ $1 $(date +%s.%N)" >&2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mark start
git clone -q --depth 1 --branch main "$REPO" "$work/src"
mark fetch
docker run --rm -v "$work/src:/workspace" -w /workspace shipway/python:3.11 \
  python3 -m unittest discover -s tests -q 2>/dev/null
mark test
docker build -q --build-arg APP_VERSION="$VERSION" --label "$LABEL" -t "$IMAGE" "$work/src" >/dev/null
mark build
docker push -q "$IMAGE" >/dev/null
mark push
for env in staging prod; do
  for i in 1 2; do
    name="bench-hello-$env-$i"
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" --label "$LABEL" --network "$NETWORK" -p 127.0.0.1::8080 \
      -e SHIPWAY_URL="$POD_SHIPWAY_URL" -e CONFIG_TOKEN="$CONFIG_TOKEN" "$IMAGE" >/dev/null
  done
  for i in 1 2; do
    port=$(docker port "bench-hello-$env-$i" 8080/tcp | head -n1 | sed 's/.*://')
    for _ in $(seq 1 300); do
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
      sleep 0.1
    done
  done
  mark "deploy-$env"
done
"""
def shipway_round(sw: Shipway, clone: Path, n: int) -> tuple[float, str]:
    repo = git.Repo(clone)
    (clone / "CHANGES.md").write_text(f"round {n}\n")
    repo.index.add(["CHANGES.md"])
    repo.index.commit(f"bench round {n}")
    before = sw.latest_run("hello-service")
    t0, t0_wall = time.monotonic(), time.time()
    repo.git.push("origin", "main")
    run = wait_for(lambda: (r := sw.latest_run("hello-service")) and (before is None or r["id"] != before["id"]) and r,
                   30, interval=0.02, message="the run")
    wait_for(lambda: sw.run(run["id"])["status"] in ("waiting-for-approval", "failed"), 300, interval=0.05,
             message="the approval")
    waiting_since = time.monotonic()
    sw.api("POST", f"/api/v1/runs/{run['id']}/approvals/approve", json={"decision": "approve"})
    waited = time.monotonic() - waiting_since
    final = wait_for(lambda: (r := sw.run(run["id"]))["status"] in ("succeeded", "failed", "aborted") and r, 300,
                     interval=0.05, message="the run to finish")
    assert final["status"] == "succeeded", final
    seen_wall = time.time()
    elapsed = time.monotonic() - t0 - waited
    stages = sw.run(run["id"]).get("stages") or []
    # Where the time outside the stages goes: push → run queued (git hook + webhook), queued → started,
    # the gaps between stages, and the run's end → this script seeing it (its 50 ms polling).
    between = sum(max(_ts(b["started_at"]) - _ts(a["finished_at"]), 0.0) for a, b in zip(stages, stages[1:])
                  if a.get("finished_at") and b.get("started_at"))
    breakdown = (", ".join(f"{st['name']} {st['duration'] or 0:.2f}" for st in stages)
                 + f"; outside stages: push→queued {_ts(final['created_at']) - t0_wall:.2f},"
                 f" queued→started {_ts(final['started_at']) - _ts(final['created_at']):.2f},"
                 f" between stages {between:.2f}, end→seen {seen_wall - _ts(final['finished_at']):.2f}")
    return elapsed, breakdown


def _ts(iso: str | None) -> float:
    """Epoch seconds of a timestamp of the runs API (naive ISO times are UTC)."""
    from datetime import datetime, timezone
    if not iso:
        return 0.0
    t = datetime.fromisoformat(iso)
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def pod_shipway_url(docker_client) -> str:
    """``SHIPWAY_URL`` as the orchestrator injects it into pods (its forwarder on the project bridge)."""
    for c in docker_client.containers.list(filters={"label": [LABEL, "org.shipway.orchestrator.role=container"]}):
        for kv in c.attrs["Config"].get("Env") or []:
            if kv.startswith("SHIPWAY_URL="):
                return kv.split("=", 1)[1]
    raise RuntimeError("no running pod of the bench to read SHIPWAY_URL from")


def script_round(env: dict[str, str], clone: Path, n: int) -> tuple[float, str]:
    """The developer pushes (to a plain bare repository: no hook) and runs the script; timed like ours,
    from the start of the push."""
    repo = git.Repo(clone)
    (clone / "CHANGES.md").write_text(f"script round {n}\n")
    repo.index.add(["CHANGES.md"])
    repo.index.commit(f"bench script round {n}")
    # A version of its own: the pipeline builds APP_VERSION=<run number>, and reusing one of those would
    # let the script's build hit the layer cache of the pipeline's build (an unfair head start).
    env = dict(env, VERSION=f"script-{n}", IMAGE=f"{env['REGISTRY']}/bench-hello:{n}")
    t0 = time.monotonic()
    repo.git.push("plain", "HEAD:main")
    pushed = time.monotonic()
    out = subprocess.run(["bash", "-c", SCRIPT], env=env, timeout=300, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the reference script failed ({out.returncode}):\n{out.stderr[-3000:]}")
    elapsed = time.monotonic() - t0
    marks = [(ln.split()[1], float(ln.split()[2])) for ln in out.stderr.splitlines() if ln.startswith("@@ ")]
    parts = [f"git push {pushed - t0:.2f}"] + [f"{name} {t - marks[i - 1][1]:.2f}"
                                              for i, (name, t) in enumerate(marks) if i]
    return elapsed, ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import docker
    docker_client = docker.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="shipway-bench-"))
    server = LiveServer(tmp / "shipway", env={"SHIPWAY_ORCHESTRATOR_LABELS": LABEL})
    server.start(timeout=120)
    try:
        sw = Shipway(server)
        sw.cli("demo")
        bare = server.data_dir / "demo" / "hello-service.git"
        clone = tmp / "clone"
        repo = git.Repo.clone_from(str(bare), clone)
        with repo.config_writer() as cw:
            cw.set_value("user", "name", "bench")
            cw.set_value("user", "email", "bench@example.test")
        token = sw.api("POST", "/api/v1/tokens", json={"name": "bench-config"}).json()["token"]
        plain = tmp / "plain.git"  # the script's repository: the same code, no hook
        git.Repo.init(plain, bare=True, initial_branch="main")
        repo.create_remote("plain", plain.as_uri())
        repo.git.push("plain", "HEAD:main")
        env = {"REPO": plain.as_uri(), "LABEL": LABEL, "REGISTRY": server.registry_address(),
               "NETWORK": "shipway-orchestrator", "CONFIG_TOKEN": token, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        # Warm-up, not counted: the first push of each side uploads the base image's layers to the fresh
        # registry (seconds), and the first deploy creates the Deployment rather than rolling it.
        shipway_round(sw, clone, 0)
        env["POD_SHIPWAY_URL"] = pod_shipway_url(docker_client)
        script_round(env, clone, 0)
        print("warm-up round done (not counted)", flush=True)
        ours, ref = [], []
        for n in range(1, args.rounds + 1):
            t, why = shipway_round(sw, clone, n)
            ours.append(t)
            print(f"round {n}: shipway {t:.2f} s   [{why}]", flush=True)
            t, why = script_round(env, clone, n)
            ref.append(t)
            print(f"         script  {t:.2f} s   [{why}]", flush=True)
        m_ours, m_ref = statistics.median(ours), statistics.median(ref)
        print(f"\npush → production (median of {args.rounds}, approval wait excluded)")
        print(f"  shipway pipeline : {m_ours:6.2f} s  (fetch, test, build, push, staging, approve, prod; rolling updates)")
        print(f"  shell script     : {m_ref:6.2f} s  (clone, test, build, push, replace 2+2 containers, readiness)")
        print(f"  ratio            : {m_ours / m_ref:6.2f}×  (target ≤ 1.3×; per round: "
              + ", ".join(f"{a / b:.2f}×" for a, b in zip(ours, ref)) + ")")
    finally:
        for ns in ("staging", "prod"):
            requests.delete(server.url + f"/k8s/apis/apps/v1/namespaces/{ns}/deployments/hello",
                            headers={"Authorization": f"Bearer {server.admin_token()}"}, timeout=30)
        server.stop()
        cleanup(docker_client, server, tmp)


def cleanup(docker_client, server: LiveServer, tmp: Path) -> None:
    """Remove what this run made, and only that: containers and images with the bench label, the images
    the pipeline built from this run's own repository (their source label names it), the temp dir."""
    import docker.errors
    for c in docker_client.containers.list(all=True, filters={"label": LABEL}):
        try:
            c.remove(force=True)
        except docker.errors.APIError:
            pass
    mine = (server.data_dir / "demo").as_uri() + "/"
    images = {img.id for img in docker_client.images.list(filters={"label": LABEL})}
    images |= {img.id for img in docker_client.images.list(filters={"label": "org.opencontainers.image.source"})
               if (img.labels or {}).get("org.opencontainers.image.source", "").startswith(mine)}
    for image_id in images:
        try:
            docker_client.images.remove(image_id, force=True)
        except docker.errors.APIError:
            pass
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
