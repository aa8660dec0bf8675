"""The deploy stage: manifests from the workspace, image replaced, applied, rollout awaited, undone on failure.

Image replacement: with ``container: NAME`` only that container of each
Deployment gets the new image; without it every container of every
Deployment in the manifests does.
"""

from __future__ import annotations

import glob
from pathlib import Path

from shipway.pipelines import kube, spec
from shipway.pipelines.logs import LogWriter
from shipway.pipelines.source import inside


def manifest_files(workspace: Path, patterns) -> list[Path]:
    root = workspace.resolve()
    files: list[Path] = []
    for pat in [patterns] if isinstance(patterns, str) else list(patterns):
        p = inside(root, pat)  # raises for paths outside the workspace
        matched = sorted(glob.glob(str(p), recursive=True)) if any(c in pat for c in "*?[") else [str(p)]
        for f in matched:
            fp = Path(f).resolve()
            if root not in fp.parents:
                raise ValueError(f"manifest {pat} resolves outside the workspace")
            if fp.is_dir():
                files.extend(sorted(x.resolve() for x in fp.glob("*.y*ml")))
            elif fp.is_file():
                files.append(fp)
    if not files:
        raise ValueError(f"no manifest matches {patterns}")
    return files


def deploy_stage(runner, stage: dict, w: LogWriter) -> dict:
    """Apply, wait, roll back on failure; return the stage detail (raises on failure)."""
    rc, svc = runner.rc, runner.svc
    image = runner.image_to_deploy()
    docs = kube.load_manifests(manifest_files(rc.workspace, stage["manifests"]))
    ns = stage.get("namespace") or "default"
    deployments = []
    for d in docs:
        d.setdefault("metadata", {})
        if d["kind"] != "Namespace":
            d["metadata"].setdefault("namespace", ns)
        if kube.set_image(d, image, stage.get("container")):
            deployments.append((d["metadata"]["namespace"], d["metadata"]["name"]))
    client = svc.kube_client(stage, rc.project_secrets)
    timeout = spec.parse_duration(stage.get("rollout_timeout"), 300.0)
    try:
        for d in docs:
            client.apply(d)
            w.line(f"applied {d['kind'].lower()}/{d['metadata']['name']}")
        for ns_, name in deployments:
            try:
                kube.wait_rollout(client, ns_, name, timeout, w.line,
                                  lambda: rc.ctl.cancelled.is_set())
            except kube.KubeError as e:
                w.line(f"rollout of deployment/{name} failed: {e}")
                rolled = kube.rollback(client, ns_, name, w.line)
                raise kube.KubeError(f"rollout failed ({e}); " +
                                     ("rolled back to the previous revision" if rolled else "nothing to roll back to"))
    finally:
        client.close()
    return {"image": image, "deployments": [f"{a}/{b}" for a, b in deployments]}
