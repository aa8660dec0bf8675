"""A pipelines service on a real SQLite store with the in-memory queue, an executor, and the real projects service."""

from __future__ import annotations

import pytest

from shipway.pipelines import models  # noqa: F401
from shipway.pipelines.executor import Executor
from shipway.pipelines.queue import MemoryRunQueue
from shipway.pipelines.service import PipelineService
from shipway.pipelines.states import RunState
from support.waiting import wait_for


class Notes:
    """Records ProjectService.notify calls (a fake behind the projects interface)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def notify(self, _svc, name, event, payload):
        self.calls.append((name, event, payload))

    def report_status(self, *a, **kw):
        pass


class Env:
    def __init__(self, ctx, git_repo) -> None:
        from shipway.pipelines import project_models  # noqa: F401
        from shipway.pipelines.projects import ProjectService
        ctx.store.create_all()
        self.ctx, self.git = ctx, git_repo
        self.notes = Notes()
        ctx.services["projects"] = ProjectService(ctx.store, "k" * 32, self.notes)
        self.svc = PipelineService(ctx, MemoryRunQueue())
        ctx.services["pipelines"] = self.svc
        self.executor = Executor(self.svc)
        self.executor.start()

    def project(self, name="app", pipeline: str | None = None, files: dict | None = None, secrets=None, **kw):
        if pipeline is not None or files:
            self.git.commit({**({".shipway.yml": pipeline} if pipeline is not None else {}), **(files or {})}, "pipeline")
            self.git.push()
        self.ctx.services["projects"].add(name, self.git.url, branches=["main"], secrets=secrets or {}, **kw)

    def start(self, project="app", **kw) -> dict:
        kw.setdefault("trigger", "manual")
        kw.setdefault("event", None)
        return self.svc.start_run(project, **kw)

    def wait(self, run_id: int, *states: RunState, timeout: float = 30) -> dict:
        want = {s.value for s in states} or {s.value for s in RunState if s.terminal}
        return wait_for(lambda: (r := self.svc.run(run_id, full=True))["status"] in want and r, timeout,
                        message=f"run {run_id} in {want}")

    def log(self, run_id: int) -> str:
        from shipway.pipelines.logs import read_chunks
        return "".join(c[2] for c in read_chunks(self.svc.store, run_id, 0, limit=100000))


@pytest.fixture
def penv(unit_ctx, git_repo):
    env = Env(unit_ctx, git_repo)
    yield env
    env.executor.stop()
