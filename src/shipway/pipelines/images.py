"""The build and push stages: Docker build from the workspace, push to a registry with the digest recorded."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from shipway.pipelines.logs import LogWriter
from shipway.pipelines.source import inside
from shipway.pipelines.spec import render


class StageError(Exception):
    """A stage failed for a reason worth one line in the log."""


def build(docker, workspace: Path, stage: dict, values: dict[str, Any], registry: str,
          writer: LogWriter, labels: dict[str, str]) -> dict[str, Any]:
    """Build the image; return ``{"image": repo, "tags": [...], "refs": [...], "id": sha}``."""
    try:
        context = inside(workspace, stage.get("context") or ".")
        dockerfile = inside(workspace, stage.get("dockerfile") or str(Path(stage.get("context") or ".") /
                                                                       "Dockerfile"))
    except ValueError as e:
        raise StageError(str(e)) from None
    if not dockerfile.is_file():
        raise StageError(f"no Dockerfile at {dockerfile.relative_to(workspace.resolve())}")
    try:
        dockerfile_rel = str(dockerfile.relative_to(context))
    except ValueError:
        raise StageError("the Dockerfile must be inside the build context") from None
    repo = f"{registry}/{stage['image']}" if registry else stage["image"]
    tags = [render(t, values) for t in stage.get("tags") or ["{commit_short}"]]
    tags = [_safe_tag(t) for t in tags]
    all_labels = {**{k: render(v, values) for k, v in (stage.get("labels") or {}).items()}, **labels}
    build_args = {k: render(v, values) for k, v in (stage.get("build_args") or {}).items()}
    image_id = None
    stream = docker.api.build(path=str(context), dockerfile=dockerfile_rel, tag=f"{repo}:{tags[0]}",
                              buildargs=build_args, target=stage.get("target"), labels=all_labels, rm=True,
                              forcerm=True, decode=True, pull=False)
    for chunk in stream:
        if "stream" in chunk:
            writer.write(chunk["stream"])
        if "error" in chunk:
            writer.line(chunk["error"].rstrip())
            raise StageError("docker build failed")
        aux = chunk.get("aux") or {}
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    for t in tags[1:]:
        docker.api.tag(f"{repo}:{tags[0]}", repo, t)
    refs = [f"{repo}:{t}" for t in tags]
    writer.line(f"built {', '.join(refs)}")
    return {"image": repo, "tags": tags, "refs": refs, "id": image_id}


def _safe_tag(tag: str) -> str:
    """Docker tags allow [A-Za-z0-9_.-], 128 chars, not starting with . or -; branch names need cleaning."""
    out = "".join(c if c.isalnum() or c in "_.-" else "-" for c in tag)[:128].lstrip(".-")
    return out or "latest"


def push(docker, built: dict[str, Any], writer: LogWriter, auth: dict | None) -> dict[str, Any]:
    """Push every tag of ``built``; return ``{"digest", "refs"}``."""
    digest = None
    for tag in built["tags"]:
        writer.line(f"pushing {built['image']}:{tag}")
        for chunk in docker.api.push(built["image"], tag=tag, stream=True, decode=True, auth_config=auth):
            if "error" in chunk:
                raise StageError(f"push failed: {chunk['error']}")
            aux = chunk.get("aux") or {}
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = aux["Digest"]
            if chunk.get("status") and chunk.get("id") is None:
                writer.line(chunk["status"])
    if not digest:
        raise StageError("the registry did not report a digest")
    writer.line(f"digest {digest}")
    return {"digest": digest, "refs": built["refs"], "pinned": f"{built['image']}@{digest}"}


def auth_header(username: str, password: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"username": username, "password": password}).encode()).decode()
