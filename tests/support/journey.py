"""Helpers of the end-to-end journeys: a running shipway driven through its APIs and CLI, git, the browser."""

from __future__ import annotations

import subprocess
import sys

import requests

from support.browser import login  # noqa: F401 - re-exported: the journeys log in through it
from support.server import LiveServer
from support.waiting import wait_for


class Shipway:
    """A running shipway with an admin API session and helpers the journeys share."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.url = server.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {server.admin_token()}"

    def api(self, method: str, path: str, ok=(200, 201, 202, 204), **kw) -> requests.Response:
        r = self.http.request(method, self.url + path, timeout=30, **kw)
        assert r.status_code in ok, f"{method} {path} → {r.status_code}: {r.text[:500]}"
        return r

    def cli(self, *args: str) -> str:
        env = {**self.server.env, "SHIPWAY_URL": self.url, "SHIPWAY_TOKEN": self.server.admin_token()}
        out = subprocess.run([sys.executable, "-m", "shipway", *args], env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"shipway {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
        return out.stdout

    def run(self, run_id: int) -> dict:
        return self.api("GET", f"/api/v1/runs/{run_id}").json()

    def wait_run(self, run_id: int, states: set[str], timeout: float = 300) -> dict:
        def reached():
            run = self.run(run_id)
            return run if run["status"] in states else None
        try:
            return wait_for(reached, timeout, interval=0.5, message=f"run {run_id} to reach {sorted(states)}")
        except AssertionError:
            run = self.api("GET", f"/api/v1/runs/{run_id}").json()
            logs = self.http.get(self.url + f"/api/v1/runs/{run_id}/logs",
                                 params={"format": "text", "limit": 100000}, timeout=30).text[-4000:]
            raise AssertionError(f"run {run_id} is {run['status']} ({run.get('reason')}); log tail:\n{logs}")

    def latest_run(self, project: str) -> dict | None:
        items = self.api("GET", "/api/v1/runs", params={"project": project}).json()["runs"]
        return items[0] if items else None

    def deployment_ready(self, ns: str, name: str) -> bool:
        r = self.http.get(self.url + f"/k8s/apis/apps/v1/namespaces/{ns}/deployments/{name}", timeout=10)
        if r.status_code != 200:
            return False
        d = r.json()
        want = d["spec"].get("replicas", 1)
        st = d.get("status") or {}
        return (st.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
                and st.get("updatedReplicas") == want and st.get("availableReplicas") == want
                and st.get("replicas") == want)

    def service_url(self, ns: str, name: str) -> str:
        svc = self.api("GET", f"/k8s/api/v1/namespaces/{ns}/services/{name}").json()
        return f"http://127.0.0.1:{svc['spec']['ports'][0]['nodePort']}"

    def pod_containers(self, ns: str, app: str) -> dict[str, tuple[str, int]]:
        pods = self.api("GET", f"/k8s/api/v1/namespaces/{ns}/pods", params={"labelSelector": f"app={app}"}).json()
        out = {}
        for p in pods["items"]:
            for cs in (p.get("status") or {}).get("containerStatuses") or []:
                out[p["metadata"]["name"]] = (cs.get("containerID"), cs.get("restartCount", 0))
        return out



def clone_and_push(bare: str, workdir, change: dict[str, str], message: str) -> str:
    """Clone the demo repository, apply ``change`` (path → new text), commit and push; return the sha."""
    import git

    repo = git.Repo.clone_from(bare, workdir)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Newcomer")
        cw.set_value("user", "email", "newcomer@example.test")
    for rel, text in change.items():
        (workdir / rel).write_text(text)
        repo.index.add([rel])
    sha = repo.index.commit(message).hexsha
    repo.git.push("origin", "main")
    return sha


