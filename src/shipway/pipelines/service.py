"""``ctx.services["pipelines"]``: the public face of the pipelines part.

``start_run`` only records and enqueues (it is called inside webhook
requests); execution happens in :class:`~shipway.pipelines.executor.Executor`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from shipway.core.auth import Identity
from shipway.core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from shipway.core.store import utcnow
from shipway.pipelines import approvals, runs, source, spec
from shipway.pipelines import statements as sql
from shipway.pipelines.logs import LogBroker
from shipway.pipelines.metrics import Metrics
from shipway.pipelines.models import ApprovalRow, RunRow, StageRow
from shipway.pipelines.queue import MemoryRunQueue
from shipway.pipelines.states import RunState

log = logging.getLogger(__name__)
ACTIVE = (RunState.RUNNING.value, RunState.WAITING.value)
ORCHESTRATOR_API = "/k8s"  # where shipway's orchestrator serves the Kubernetes API (docs/orchestrator)


class PipelineService:
    """Runs: start (idempotent), read, cancel, re-run, approve; plus what the engine needs."""

    def __init__(self, ctx, queue=None) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.broker = LogBroker()
        self.queue = queue or MemoryRunQueue()
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self.controls: dict[int, Any] = {}   # run id -> Control of runs executing in this process
        self.clean_workspaces = False
        self.container_labels: dict[str, str] = {}
        self._deployer_token: str | None = None
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.ctx.settings.base_url

    @property
    def registry_address(self) -> str:
        return self.ctx.registry_address or ""

    @property
    def docker(self):
        return self.ctx.docker

    def projects(self):
        svc = self.ctx.services.get("projects")
        if svc is None:
            raise NotFound("the projects service is not available")
        return svc

    def project(self, name: str):
        return self.projects().get(name)

    def project_secrets(self, name: str) -> dict[str, str]:
        return dict(self.projects().secrets_of(name) or {})

    def project_credentials(self, name: str) -> dict:
        return dict(self.projects().credentials_of(name) or {})

    def project_for_run(self, name: str):
        """``(project, secrets, credentials)`` in one read: what a starting run needs."""
        project, secrets, creds = self.projects().for_run(name)
        return project, dict(secrets or {}), dict(creds or {})

    def notify(self, project: str, event: str, payload: dict) -> None:
        try:
            svc = self.ctx.services.get("projects")
            if svc is not None:
                svc.notify(project, event, payload)
        except Exception:  # noqa: BLE001 - a notification never breaks a run
            log.exception("notify %s %s failed", project, event)

    @property
    def log_dir(self) -> Path:
        """Where runs' log files are (``<data_dir>/pipelines/logs/<run id>.log``; indexed in SQL)."""
        return self.ctx.data_path / "pipelines" / "logs"

    def workspace(self, run_id: int) -> Path:
        return self.ctx.data_path / "pipelines" / "workspaces" / str(run_id)

    # -- starting -----------------------------------------------------------------
    def start_run(self, project: str, *, event=None, trigger: str, params: dict | None = None,
                  requested_by: str | None = None, idempotency_key: str | None = None,
                  rerun_of: int | None = None) -> dict:
        """Record a queued run and put it in the queue (never executes). Same key → same run, duplicate=True."""
        if trigger not in runs.TRIGGERS:
            raise BadRequest(f"unknown trigger '{trigger}' ({', '.join(runs.TRIGGERS)})", field="trigger")
        if params is not None and (not isinstance(params, dict) or
                                   not all(isinstance(k, str) and isinstance(v, (str, bool, int, float))
                                           for k, v in params.items())):
            raise BadRequest("params must be an object of strings", field="params")
        projects = self.projects()
        row, dup = runs.create_run(self.store, project, trigger=trigger, event=runs.event_dict(event),
                                   params=params or {}, requested_by=requested_by,
                                   idempotency_key=idempotency_key, rerun_of=rerun_of,
                                   check=lambda s: projects.require(s, project))  # NotFound for an unknown one
        if not dup:
            self.metrics.queued(row.id)
            try:
                self.queue.put(row.id)
            except Exception:  # noqa: BLE001 - the executor's reconcile re-enqueues queued runs
                log.exception("could not enqueue run %s now; it will be picked up by the reconcile loop", row.id)
            if event is not None and getattr(event, "commit", ""):
                self._status(project, row, "queued")
        return dict(runs.run_dict(row, self.base_url), duplicate=dup)

    def rerun(self, run_id: int, requested_by: str | None) -> dict:
        row = runs.get_row(self.store, run_id)
        ev = dict(row.event or {})
        event = None
        if ev.get("kind"):
            from shipway.webhook.events import PushEvent
            ev["changed_paths"] = tuple(ev.get("changed_paths") or ())
            event = PushEvent(**{k: v for k, v in ev.items() if k in PushEvent.__dataclass_fields__})
        return self.start_run(row.project, event=event, trigger="rerun", params=row.params,
                              requested_by=requested_by, rerun_of=row.id)

    @staticmethod
    def default_branch(row: RunRow, project) -> str:
        """The branch a run builds: the event's, the ``branch`` parameter, else the project's first plain branch
        (not a glob), else ``main``."""
        ev, params = row.event or {}, row.params or {}
        return ev.get("branch") or params.get("branch") or (
            project.branches[0] if project.branches and not any(c in project.branches[0] for c in "*?[") else "main")

    def branch_of(self, row: RunRow, project, commit: str) -> str | None:
        """What the run view shows as the branch of a manual/cron run: the default branch, or for a run of an
        explicit commit a branch whose head it is (``None`` when none is)."""
        if (row.params or {}).get("commit") or (row.event or {}).get("commit"):
            return source.branch_at(self.ctx.data_path / "pipelines" / "cache" / f"{project.name}.git", commit)
        return self.default_branch(row, project)

    def load_pipeline(self, row: RunRow, project, secret_names: set[str] | None = None,
                      credentials: dict | None = None) -> tuple[dict, str]:
        """The validated pipeline of a run (file at the commit, else the project's default) and the commit.

        ``secret_names``, ``credentials``: the project's, when the caller has them already (else read here)."""
        ev = row.event or {}
        params = row.params or {}
        branch = self.default_branch(row, project)
        text, commit = source.read_pipeline_file(
            self.ctx.data_path / "pipelines" / "cache", project.name, project.repo_url,
            ev.get("commit") or params.get("commit") or None, None if ev.get("tag") else branch,
            project.pipeline_file, self.project_credentials(project.name) if credentials is None else credentials)
        name = project.pipeline_file
        if text is None:
            if not project.default_pipeline:
                raise ValidationFailed(f"no {name} at {commit[:12]} and the project has no default pipeline", [
                    {"file": name, "line": 1, "column": 1, "path": "",
                     "message": f"{name} does not exist at commit {commit[:12]}"}])
            text, name = project.default_pipeline, "(project default pipeline)"
        if secret_names is None:
            secret_names = set(self.project_secrets(project.name))
        pipeline = spec.load(text, name, secrets=set(secret_names))
        self._check_params(pipeline, row)
        return pipeline, commit

    def commit_info(self, project: str, commit: str) -> dict:
        """``{"message", "author"}`` of a commit from the project's git cache (empty when unknown)."""
        return source.commit_info(self.ctx.data_path / "pipelines" / "cache" / f"{project}.git", commit)

    @staticmethod
    def _check_params(pipeline: dict, row: RunRow) -> None:
        given = dict(row.params or {})
        errs = []
        declared = {p["name"]: p for p in pipeline.get("parameters") or []}
        for k in given:
            if k not in declared and k not in ("branch", "commit"):
                errs.append({"file": "params", "line": 1, "column": 1, "path": f"params.{k}",
                             "message": "not a parameter of this pipeline"})
        for name, p in declared.items():
            v = given.get(name, p.get("default"))
            if v is None:
                errs.append({"file": "params", "line": 1, "column": 1, "path": f"params.{name}",
                             "message": "required parameter missing"})
            elif p.get("type") == "choice" and str(v) not in p.get("choices", []):
                errs.append({"file": "params", "line": 1, "column": 1, "path": f"params.{name}",
                             "message": f"must be one of {p['choices']}"})
            given.setdefault(name, v)
        if errs:
            raise ValidationFailed("invalid parameters", errs)
        row.params = given

    # -- state --------------------------------------------------------------------
    def set_waiting(self, run_id: int, stage: str) -> None:
        runs.transition(self.store, run_id, RunState.WAITING)
        with self.store.session() as s:
            s.execute(update(StageRow).where(StageRow.run_id == run_id, StageRow.name == stage)
                      .values(status="waiting"))
        self.broker.notify()

    def resume(self, run_id: int) -> None:
        if approvals.runs_status(self.store, run_id) == RunState.WAITING.value:
            runs.transition(self.store, run_id, RunState.RUNNING)
            self.broker.notify()

    def finish(self, run_id: int, state: RunState, *, reason: str = "", errors: list | None = None,
               expect: RunRow | None = None, transaction=None) -> None:
        """End a run in ``state`` (``expect``, ``transaction``: see :func:`runs.transition`)."""
        fields: dict[str, Any] = {"reason": reason[:2000], "resume_at": None}
        if errors is not None:
            fields["errors"] = errors
        cut = "aborted" if state is not RunState.FAILED else "failed"

        def sweep(s) -> None:  # nothing stays running under a finished run; pending is never reached now
            conn, values = s.connection(), {"b_run": run_id, "b_cut": cut, "b_now": utcnow()}
            for stmt in sql.SWEEP:
                conn.execute(stmt, values)
        row = runs.transition(self.store, run_id, state, expect=expect, also=sweep, transaction=transaction, **fields)
        self.metrics.finished(row)
        self.broker.notify()
        d = runs.run_dict(row, self.base_url)
        self.notify(row.project, "run.finished", {"run": d, "commit": d.get("commit"), "status": row.status})
        if d.get("commit"):
            self._status(row.project, row, row.status)

    def report_state(self, row: RunRow, state: str) -> None:
        """Report a run's state to the forge as a commit status (when the project is set up for it)."""
        self._status(row.project, row, state)

    def _status(self, project: str, row: RunRow, state: str) -> None:
        try:
            svc = self.ctx.services.get("projects")
            if svc is not None and hasattr(svc, "report_status") and (row.event or {}).get("commit"):
                svc.report_status(project, commit=row.event["commit"], state=state,
                                  target_url=f"{self.base_url}/runs/{row.id}", description=f"shipway run #{row.number}")
        except Exception:  # noqa: BLE001
            log.exception("commit status for run %s failed", row.id)

    def active_in_group(self, group: str, exclude: int) -> list[int]:
        with self.store.session() as s:
            return list(s.scalars(select(RunRow.id).where(RunRow.concurrency_group == group, RunRow.id != exclude,
                                                          RunRow.status.in_(ACTIVE))).all())

    def outcome_changed(self, row: RunRow, outcome: str) -> bool:
        with self.store.session() as s:
            prev = s.scalar(select(RunRow.status).where(RunRow.project == row.project, RunRow.id < row.id,
                                                        RunRow.status.in_(("succeeded", "failed", "aborted",
                                                                           "timed-out"))).order_by(RunRow.id.desc()))
        if prev is None:
            return False
        return (prev == "succeeded") != (outcome == "success")

    # -- reading ------------------------------------------------------------------
    def run(self, run_id: int, full: bool = False) -> dict:
        return runs.run_dict(runs.get_row(self.store, run_id), self.base_url, full=full, store=self.store)

    def list_runs(self, project: str | None = None, status: str | None = None, page: int = 1,
                  size: int = 50) -> list[dict]:
        q = select(RunRow)
        if project:
            q = q.where(RunRow.project == project)
        if status:
            q = q.where(RunRow.status == status)
        with self.store.session() as s:
            rows = s.scalars(q.order_by(RunRow.id.desc()).offset((page - 1) * size).limit(size)).all()
        return [runs.run_dict(r, self.base_url) for r in rows]

    # -- acting -------------------------------------------------------------------
    def cancel(self, run_id: int, by: str = "", reason: str = "") -> dict:
        """Cancel a queued, running or waiting run (a finished one → 409)."""
        row = runs.get_row(self.store, run_id)
        if RunState(row.status).terminal:
            raise Conflict(f"run {run_id} already {row.status}")
        why = reason or f"cancelled by {by or 'someone'}"
        with self.store.session() as s:
            s.execute(update(RunRow).where(RunRow.id == run_id).values(cancel_requested=True))
        if row.status == RunState.QUEUED.value:
            try:
                self.finish(run_id, RunState.ABORTED, reason=why)
                return self.run(run_id)
            except Conflict:
                pass  # claimed meanwhile: cancel the running run below
        ctl = self.controls.get(run_id)
        if ctl is not None:
            ctl.cancel(why)
        return self.run(run_id)

    def decide(self, run_id: int, stage: str, ident: Identity, approve: bool, comment: str = "",
               values: dict | None = None) -> dict:
        return approvals.decide(self.store, run_id, stage, ident, approve, comment, values)

    def pending_approvals(self) -> list[tuple[ApprovalRow, RunRow]]:
        return approvals.pending(self.store)

    # -- deploy target ---------------------------------------------------------------
    def kube_client(self, stage: dict, secrets: dict[str, str] | None = None):
        """The Kubernetes API a deploy stage talks to: a cluster from a kubeconfig project secret, else ours."""
        from shipway.pipelines import kube
        if stage.get("kubeconfig"):
            name = stage["kubeconfig"]["from_secret"]
            text = (secrets or {}).get(name)
            if not text:
                raise kube.KubeError(f"deploy: project secret {name} (the kubeconfig) is not set")
            return kube.KubeClient.from_kubeconfig(text, stage.get("context"), origin=f"project secret {name}")
        factory = self.ctx.services.get("pipelines_kube_factory")
        if factory is not None:  # tests plug a fake Kubernetes API in here
            return factory(stage)
        # shipway's own orchestrator serves the Kubernetes API under /k8s (kubeconfig server URL).
        return kube.KubeClient(self.base_url + "/k8s", self.deployer_token())

    def deployer_token(self) -> str:
        """A token of the ``shipway-deployer`` user (developer role), created on first use."""
        with self._lock:
            if self._deployer_token is None:
                import secrets as pysecrets
                users = self.ctx.users
                if not any(u["username"] == "shipway-deployer" for u in users.list()):
                    try:
                        users.add("shipway-deployer", pysecrets.token_urlsafe(24), "developer")
                    except Conflict:
                        pass
                self._deployer_token = users.create_token("shipway-deployer", "deploy stage")["token"]
            return self._deployer_token
