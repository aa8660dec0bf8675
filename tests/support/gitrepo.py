"""Throw-away git repositories: a bare 'remote' and a working clone that pushes to it."""

from __future__ import annotations

from pathlib import Path

import git


class GitRepo:
    """A bare repository at ``bare`` and a clone at ``work`` with one initial commit on ``main``."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        git.Repo.init(self.bare, bare=True, initial_branch="main")
        self.repo = git.Repo.clone_from(str(self.bare), str(self.work))
        with self.repo.config_writer() as cw:
            cw.set_value("user", "name", "Test Author")
            cw.set_value("user", "email", "author@example.test")
        self.repo.git.checkout("-b", "main")
        self.commit({"README.md": "# test repository\n"}, "initial commit")
        self.repo.git.push("-u", "origin", "main")

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str | bytes], message: str) -> str:
        """Write ``files`` (path → content), commit them, return the commit sha."""
        for rel, content in files.items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
            self.repo.index.add([rel])
        return self.repo.index.commit(message).hexsha

    def push(self, branch: str = "main") -> None:
        self.repo.git.push("origin", branch)
