"""Git: reading the pipeline file at the pushed commit, and the fetch stage's clone.

Both use GitPython. The pipeline file is read from a per-project bare cache
(``<data>/pipelines/cache/<project>.git``) without a checkout. The fetch stage
initialises the workspace, fetches exactly the commit (``--depth`` when
asked), checks it out detached and updates submodules when asked.
Credentials never appear on a command line or in the remote URL: HTTPS
credentials go through ``GIT_ASKPASS`` (a script reading environment
variables), an SSH key through ``GIT_SSH_COMMAND`` with a 0600 key file.
"""

from __future__ import annotations

import contextlib
import re
import stat
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import git

from shipway.core.errors import NotFound
from shipway.pipelines.spawn import use_vfork_for_gitpython

use_vfork_for_gitpython()  # under gevent (`shipway serve` patches before importing this): git without fork()

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$SHIPWAY_GIT_USERNAME" ;;
  *) printf '%s\\n' "$SHIPWAY_GIT_PASSWORD" ;;
esac
"""
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def git_env(credentials: dict | None) -> Iterator[dict[str, str]]:
    """Environment for git commands with ``credentials`` (username/password/token/ssh_key)."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    cred = credentials or {}
    with tempfile.TemporaryDirectory(prefix="shipway-git-") as tmp:
        if cred.get("password") or cred.get("token"):
            script = Path(tmp) / "askpass.sh"
            script.write_text(_ASKPASS)
            script.chmod(stat.S_IRWXU)
            env.update(GIT_ASKPASS=str(script), SHIPWAY_GIT_USERNAME=cred.get("username") or "x-access-token",
                       SHIPWAY_GIT_PASSWORD=cred.get("password") or cred.get("token"))
        if cred.get("ssh_key"):
            key = Path(tmp) / "id_key"
            key.write_text(cred["ssh_key"].rstrip("\n") + "\n")
            key.chmod(0o600)
            env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
        yield env


def _refspecs() -> list[str]:
    return ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]


def read_pipeline_file(cache_dir: Path, project: str, repo_url: str, commit: str | None, branch: str | None,
                       path: str, credentials: dict | None) -> tuple[str | None, str]:
    """``(text or None if the file is absent, resolved commit)`` of ``path`` at ``commit`` (or ``branch``'s head)."""
    bare = cache_dir / f"{project}.git"
    with _lock(str(bare)):
        if not bare.exists():
            bare.parent.mkdir(parents=True, exist_ok=True)
            git.Repo.init(bare, bare=True)
        if commit:
            found = read_blob(bare, commit, path)
            if found is not None:
                # Already in the cache (re-runs, several pipelines per push): no network round trip.
                return found, commit
        repo = git.Repo(bare)  # its own: the environment set below is for this fetch only
        with git_env(credentials) as env:
            repo.git.update_environment(**env)
            try:
                repo.git.fetch("--quiet", "--prune", "--", repo_url, *_refspecs())
            except git.GitCommandError as e:
                raise NotFound(f"cannot fetch {repo_url}: {_short(e)}") from None
            if commit:
                try:
                    repo.git.cat_file("-e", f"{commit}^{{commit}}")
                except git.GitCommandError:
                    try:
                        repo.git.fetch("--quiet", "--", repo_url, commit)
                    except git.GitCommandError as e:
                        raise NotFound(f"commit {commit} is not in {repo_url}: {_short(e)}") from None
            else:
                ref = f"refs/heads/{branch or 'main'}"
                try:  # in-process (GitPython reads the ref files): no `git rev-parse` process
                    commit = _cached_repo(bare).commit(ref).hexsha
                except Exception:  # noqa: BLE001 - BadName, ValueError: no such branch
                    raise NotFound(f"branch '{branch}' does not exist in {repo_url}") from None
        # through the cache's running `git cat-file --batch` (it re-scans packs for objects the fetch added)
        return read_blob(bare, commit, path), commit


def clone(workspace: Path, repo_url: str, commit: str, *, depth: int = 0, submodules: bool = False,
          credentials: dict | None = None, ref: str = "") -> str:
    """Put ``commit`` of ``repo_url`` into ``workspace`` (detached); return a summary line."""
    workspace.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(workspace)
    with git_env(credentials) as env:
        repo.git.update_environment(**env)
        depth_args = [f"--depth={depth}"] if depth else []
        try:
            repo.git.fetch("--quiet", *depth_args, "--", repo_url, commit)
        except git.GitCommandError:
            # Servers that refuse fetching a bare sha: fetch the ref, then the commit must be in it.
            if not ref:
                raise
            repo.git.fetch("--quiet", *depth_args, "--", repo_url, ref)
        repo.git.checkout("--quiet", "--detach", commit)
        if submodules:
            repo.git.submodule("update", "--init", "--recursive", *depth_args)
    head = repo.head.commit
    return f"checked out {head.hexsha[:12]} ({head.summary[:60]!r})"


_repos: dict[str, git.Repo] = {}


def _cached_repo(bare: Path) -> git.Repo:
    """One Repo per cache (callers hold its lock): its persistent `git cat-file --batch` process makes reads
    of objects already in the cache cost a pipe round trip instead of a git process start."""
    key = str(bare)
    repo = _repos.get(key)
    if repo is None:
        repo = _repos[key] = git.Repo(bare)
    return repo


# Commits are immutable: what a file or a commit's message is at a full sha never changes, so recent
# answers are kept (every run of a commit reads its pipeline file, and manual runs its message).
_AT_COMMIT_MAX = 256
_at_commit: OrderedDict[tuple, object] = OrderedDict()
_at_commit_lock = threading.Lock()


def _remembered(key: tuple):
    with _at_commit_lock:
        value = _at_commit.get(key)
        if value is not None:
            _at_commit.move_to_end(key)
        return value


def _remember(key: tuple, value) -> None:
    if value is None or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", key[1]):
        return  # a branch name or short sha can move; a missing object may be fetched later
    with _at_commit_lock:
        _at_commit[key] = value
        while len(_at_commit) > _AT_COMMIT_MAX:
            _at_commit.popitem(last=False)


def read_blob(bare: Path, commit: str, path: str):
    """``path`` at ``commit`` from the cache (caller holds the lock): text, or ``None`` when the file is absent
    or the commit is not in the cache yet (callers then fetch)."""
    key = (str(bare), commit, path)
    text = _remembered(key)
    if text is None:
        text = _read_blob(bare, commit, path)
        _remember(key, text)
    return text


def _read_blob(bare: Path, commit: str, path: str):
    try:
        c = _cached_repo(bare).commit(commit)
        c.tree  # noqa: B018 - raises when the commit object is missing
    except Exception:  # noqa: BLE001 - missing object, bad sha: fall back to fetching
        return None
    try:
        return (c.tree / path).data_stream.read().decode("utf-8", errors="replace")
    except KeyError:
        return None


def commit_info(bare: Path, commit: str) -> dict:
    """``{"message", "author"}`` of a commit in the cache, read in-process."""
    key = (str(bare), commit, None)
    info = _remembered(key)
    if info is None:
        try:
            with _lock(str(bare)):
                c = _cached_repo(bare).commit(commit)
            info = {"message": c.message.strip()[:2000], "author": c.author.name or ""}
        except Exception:  # noqa: BLE001
            return {}
        _remember(key, info)
    return dict(info)


def branch_at(bare: Path, commit: str) -> str | None:
    """A branch of the cache whose head is ``commit`` (main/master first), or ``None``."""
    try:
        with _lock(str(bare)):
            out = _cached_repo(bare).git.for_each_ref("--points-at", commit, "--format=%(refname:short)",
                                                      "refs/heads/")
    except Exception:  # noqa: BLE001 - unknown commit, no cache: no branch to show
        return None
    names = [n for n in out.splitlines() if n]
    for preferred in ("main", "master"):
        if preferred in names:
            return preferred
    return names[0] if names else None


def _short(e: git.GitCommandError) -> str:
    return (e.stderr or str(e)).strip().splitlines()[-1][:300] if (e.stderr or str(e)).strip() else "git failed"


def inside(workspace: Path, rel: str) -> Path:
    """``workspace/rel`` resolved; raise ValueError if it escapes the workspace (also via symlinks)."""
    root = workspace.resolve()
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"'{rel}' is outside the workspace")
    return target


__all__ = ["branch_at", "clone", "commit_info", "git_env", "inside", "read_blob", "read_pipeline_file"]
