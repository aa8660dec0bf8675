"""What one executing run carries: its record, pipeline, workspace, secrets, control and the results of
earlier stages (:class:`RunContext`), and the environment its steps get (:meth:`RunContext.resolve_env`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from shipway.core.errors import ShipwayError
from shipway.pipelines.commands import Control
from shipway.pipelines.logs import Journal
from shipway.pipelines.models import RunRow


class RunContext:
    """Everything one executing run needs: ids, facts, env, secrets, control, results of earlier stages."""

    def __init__(self, row: RunRow, pipeline: dict, workspace: Path, secrets: dict[str, str],
                 ctl: Control, base_url: str, journal: Journal) -> None:
        self.row, self.pipeline, self.workspace, self.ctl = row, pipeline, workspace, ctl
        self.journal = journal  # the run's write-behind of log chunks and step records
        self._root: Path | None = None
        self.project_secrets = secrets
        ev = row.event or {}
        params = dict(row.params or {})
        self.branch = ev.get("branch") or params.get("branch")
        self.tag = ev.get("tag")
        self.commit = ev.get("commit") or params.get("commit") or ""
        self.url = f"{base_url}/runs/{row.id}"
        self.outputs: dict[str, dict] = {}  # stage name -> detail (built image, digest...)
        self.approval_env: dict[str, str] = {}
        self.secret_values: list[str] = [v for v in secrets.values() if v]
        self.failed = False
        self.lock = threading.Lock()

    @property
    def workspace_root(self) -> Path:
        """The workspace, resolved (symlinks) once: the base of every step's working directory."""
        if self._root is None:
            self._root = self.workspace.resolve()
        return self._root

    @property
    def values(self) -> dict[str, Any]:
        """Template values for tags, groups and build args."""
        return {"commit": self.commit, "commit_short": self.commit[:8], "branch": self.branch or "",
                "tag": self.tag or "", "run_number": self.row.number, "project": self.row.project,
                "run_id": self.row.id}

    def facts(self, env: dict[str, str]) -> dict[str, Any]:
        ev = self.row.event or {}
        paths = ev.get("changed_paths") if ev.get("paths_complete") else None
        return {"branch": self.branch, "tag": self.tag, "event": self.row.trigger, "commit": self.commit,
                "changed_paths": paths, "env": env, "params": self.row.params or {}, "project": self.row.project}

    def resolve_env(self, *layers: dict | None) -> dict[str, str]:
        """Merge environment layers; ``from_secret`` values are looked up and remembered for masking."""
        ev = self.row.event or {}
        env = {"CI": "true", "SHIPWAY": "true", "SHIPWAY_PROJECT": self.row.project,
               "SHIPWAY_RUN_ID": str(self.row.id), "SHIPWAY_RUN_NUMBER": str(self.row.number),
               "SHIPWAY_RUN_URL": self.url, "SHIPWAY_EVENT": self.row.trigger,
               "SHIPWAY_BRANCH": self.branch or "", "SHIPWAY_TAG": self.tag or "",
               "SHIPWAY_COMMIT": self.commit, "SHIPWAY_COMMIT_SHORT": self.commit[:8],
               "SHIPWAY_COMMIT_MESSAGE": ev.get("message") or "", "SHIPWAY_COMMIT_AUTHOR": ev.get("author") or "",
               "SHIPWAY_REF": ev.get("ref") or ""}
        for k, v in (self.row.params or {}).items():
            env[f"PARAM_{k.upper()}"] = str(v)
        env.update(self.approval_env)
        for layer in layers:
            for k, v in (layer or {}).items():
                if isinstance(v, dict):
                    secret = self.project_secrets.get(v["from_secret"])
                    if secret is None:
                        raise ShipwayError(f"environment {k}: the project has no secret '{v['from_secret']}'")
                    env[k] = secret
                    with self.lock:
                        if secret not in self.secret_values:
                            self.secret_values.append(secret)
                else:
                    env[k] = str(v).lower() if isinstance(v, bool) else str(v)
        return env
