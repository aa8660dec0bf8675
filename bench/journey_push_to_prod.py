"""Push-to-production time of the example service: shipway vs a plain shell script, in the same run.

shipway: `git push` → webhook → fetch, test (in a container), build, push, deploy to staging (rolling
update, readiness), approve (decided by this script through the API the moment it waits; the waiting
time is subtracted), deploy to prod → prod Deployment available. Measured from the push to prod ready.

Reference: a bash script doing the same work by hand: git clone, run the tests in a container,
docker build, docker push, then replace 2 staging + 2 prod containers and wait until each answers
/readyz (the app's readiness, which needs its config from shipway, as in the pipeline).

Usage: .venv/bin/python bench/journey_push_to_prod.py [--rounds 3]
Bounded: a few rounds, each with its own deadline; everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
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

SCRIPT = r"""
set -euo pipefail
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
git clone -q --depth 1 "$REPO" "$work/src"
docker run --rm -v "$work/src:/workspace" -w /workspace shipway/python:3.11 \
  python3 -m unittest discover -s tests -q 2>/dev/null
docker build -q --build-arg APP_VERSION="$VERSION" --label "$LABEL" -t "$IMAGE" "$work/src" >/dev/null
docker push -q "$IMAGE" >/dev/null
for env in staging prod; do
  for i in 1 2; do
    name="bench-hello-$env-$i"
    port=$((PORT_BASE + $( [ $env = staging ] && echo 0 || echo 2 ) + i))
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" --label "$LABEL" --network host -e PORT=$port \
      -e SHIPWAY_URL="$SHIPWAY_URL" -e CONFIG_TOKEN="$CONFIG_TOKEN" "$IMAGE" >/dev/null
  done
  for i in 1 2; do
    port=$((PORT_BASE + $( [ $env = staging ] && echo 0 || echo 2 ) + i))
    for _ in $(seq 1 300); do
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
      sleep 0.1
    done
  done
done
"""


def shipway_round(sw: Shipway, clone: Path, n: int) -> float:
    repo = git.Repo(clone)
    (clone / "CHANGES.md").write_text(f"round {n}\n")
    repo.index.add(["CHANGES.md"])
    repo.index.commit(f"bench round {n}")
    before = sw.latest_run("hello-service")
    t0 = time.monotonic()
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
    elapsed = time.monotonic() - t0 - waited
    stages = sw.run(run["id"]).get("stages") or []
    first = final.get("created_at")
    print("    stages: " + ", ".join(f"{st['name']} {st['duration'] or 0:.1f}" for st in stages)
          + f"  (queued→start {_gap(first, final.get('started_at')):.2f} s)")
    return elapsed


def _gap(a: str | None, b: str | None) -> float:
    from datetime import datetime
    if not a or not b:
        return 0.0
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def script_round(sw: Shipway, bare: Path, registry: str, token: str, n: int) -> float:
    env = {"REPO": bare.as_uri(), "VERSION": str(n), "LABEL": LABEL, "IMAGE": f"{registry}/bench-hello:{n}",
           "PORT_BASE": "18080", "SHIPWAY_URL": sw.url, "CONFIG_TOKEN": token, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    t0 = time.monotonic()
    subprocess.run(["bash", "-c", SCRIPT], env=env, check=True, timeout=300)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shipway-bench-"))
    server = LiveServer(tmp / "shipway", env={"SHIPWAY_ORCHESTRATOR_LABELS": LABEL.replace("=", "=", 1)})
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
        registry = server.registry_address()
        ours, ref = [], []
        for n in range(1, args.rounds + 1):
            ours.append(shipway_round(sw, clone, n))
            ref.append(script_round(sw, bare, registry, token, n))
            print(f"round {n}: shipway {ours[-1]:.1f} s   script {ref[-1]:.1f} s", flush=True)
        m_ours, m_ref = statistics.median(ours), statistics.median(ref)
        print(f"\npush → production (median of {args.rounds}, approval wait excluded)")
        print(f"  shipway pipeline : {m_ours:6.1f} s  (fetch, test, build, push, staging, approve, prod; rolling updates)")
        print(f"  shell script     : {m_ref:6.1f} s  (clone, test, build, push, replace 2+2 containers, readiness)")
        print(f"  ratio            : {m_ours / m_ref:6.2f}×  (target ≤ 1.3×)")
    finally:
        for ns in ("staging", "prod"):
            requests.delete(server.url + f"/k8s/apis/apps/v1/namespaces/{ns}/deployments/hello",
                            headers={"Authorization": f"Bearer {server.admin_token()}"}, timeout=30)
        server.stop()
        subprocess.run(["bash", "-c", f"docker ps -aq --filter label={LABEL} | xargs -r docker rm -f >/dev/null;"
                        f"docker images -q --filter label={LABEL} | sort -u | xargs -r docker rmi -f >/dev/null"],
                       check=False)


if __name__ == "__main__":
    main()
