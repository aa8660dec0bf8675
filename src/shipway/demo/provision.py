"""Provision the hello-service demo through shipway's REST APIs (idempotent: re-running repairs)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shipway.core.errors import ShipwayError

PROJECT = "hello-service"
NAMESPACES = ("staging", "prod")
CONFIG_DATA_ID = "hello.json"
APP_USER = "hello-service-app"


def example_source() -> Path:
    """``examples/hello-service`` of this checkout."""
    return Path(__file__).resolve().parents[3] / "examples" / "hello-service"


@dataclass
class DemoResult:
    bare: Path
    webhook_url: str
    created_project: bool


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def seed_repository(bare: Path, source: Path) -> bool:
    """Create ``bare`` with one commit holding ``source``; False when it already exists."""
    if (bare / "HEAD").is_file():
        return False
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git("init", "--bare", "--initial-branch=main", str(bare))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _git("init", "--initial-branch=main", cwd=work)
        _git("add", "-A", cwd=work)
        _git("-c", "user.name=shipway demo", "-c", "user.email=demo@shipway.local", "commit", "-q", "-m",
             "hello-service: first version", cwd=work)
        _git("push", "-q", str(bare), "main", cwd=work)
    return True


def install_hook(bare: Path, url: str, secret: str, clone_url: str) -> None:
    hooks = bare / "hooks"
    hooks.mkdir(exist_ok=True)
    config = hooks / "shipway-hook.json"
    config.write_text(json.dumps({"url": url, "secret": secret, "repo_name": f"local/{PROJECT}",
                                  "clone_url": clone_url}, indent=2))
    config.chmod(0o600)  # it holds the webhook secret
    hook = hooks / "post-receive"
    shutil.copyfile(Path(__file__).with_name("hook.py"), hook)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def provision(api, data_dir: Path, say: Callable[[str], None] = print) -> DemoResult:
    """Set everything up; ``api`` is a :class:`shipway.cli.common.ApiClient` with an admin token."""
    bare = data_dir / "demo" / f"{PROJECT}.git"
    if seed_repository(bare, example_source()):
        say(f"created the repository {bare}")
    clone_url = bare.as_uri()

    created = False
    try:
        project = api.get(f"/api/v1/projects/{PROJECT}").json()
        secret = None
    except ShipwayError as e:
        if e.status != 404:
            raise
        project = api.post("/api/v1/projects", json={"name": PROJECT, "repo_url": clone_url,
                                                     "branches": ["main"]}).json()
        secret = project.get("webhook_secret")
        created = True
        say(f"registered the project {PROJECT}")
    if secret is None:
        secret = api.post(f"/api/v1/projects/{PROJECT}/webhook-secret").json().get("webhook_secret")
    url = project["webhooks"]["github"]
    install_hook(bare, url, secret, clone_url)
    say(f"installed the post-receive hook → {url}")

    _ensure_app_token(api, say)
    _ensure_config(api, say)
    return DemoResult(bare=bare, webhook_url=url, created_project=created)


def _ensure_app_token(api, say) -> None:
    """A viewer user for the app; its token goes into a Secret in each namespace."""
    users = {u["username"] for u in api.get("/api/v1/users").json()["items"]}
    if APP_USER not in users:
        import secrets as pysecrets
        api.post("/api/v1/users", json={"username": APP_USER, "password": pysecrets.token_urlsafe(24),
                                        "role": "viewer"})
    token = None
    for ns in NAMESPACES:
        try:
            api.get(f"/k8s/api/v1/namespaces/{ns}")
        except ShipwayError as e:
            if e.status != 404:
                raise
            api.post("/k8s/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            say(f"created the namespace {ns}")
        try:
            api.get(f"/k8s/api/v1/namespaces/{ns}/secrets/hello-config")
        except ShipwayError as e:
            if e.status != 404:
                raise
            if token is None:
                token = api.post("/api/v1/tokens", json={"username": APP_USER, "name": "hello-service"}).json()["token"]
            api.post(f"/k8s/api/v1/namespaces/{ns}/secrets", json={
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hello-config"},
                "type": "Opaque", "stringData": {"token": token}})
            say(f"stored the app's config token in {ns}/secret/hello-config")


def _ensure_config(api, say) -> None:
    try:
        api.get("/nacos/v1/cs/configs", params={"dataId": CONFIG_DATA_ID, "group": "DEFAULT_GROUP"})
        return
    except ShipwayError as e:
        if e.status != 404:
            raise
    api.post("/nacos/v1/cs/configs", data={"dataId": CONFIG_DATA_ID, "group": "DEFAULT_GROUP", "type": "json",
                                           "content": json.dumps({"greeting": "Hello from shipway"})})
    say(f"published the greeting in the config center (DEFAULT_GROUP/{CONFIG_DATA_ID})")
