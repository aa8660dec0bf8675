"""Executing stages: when/retry/timeout/post around each stage kind, parallel groups.

Every stage kind returns a status string (succeeded, failed, aborted,
timed-out, skipped, waiting) and never raises: exceptions become a failed
stage with one line in the log.
"""

from __future__ import annotations

import threading
import time

from shipway.core.errors import ShipwayError
from shipway.core.store import utcnow
from shipway.pipelines import approvals, commands, images, source, spec
from shipway.pipelines.deploy import deploy_stage
from shipway.pipelines.step_jobs import StepJob, step_label
from shipway.pipelines.when import holds

BAD = ("failed", "timed-out", "aborted")


class StageRunner:
    def __init__(self, engine, rc) -> None:
        self.engine, self.rc, self.svc = engine, rc, engine.svc

    # -- stage ---------------------------------------------------------------
    def run(self, stage: dict, position: int, parent: str | None) -> str:
        rc, eng = self.rc, self.engine
        name, kind = stage["name"], stage.get("kind", "command")
        if "parallel" in stage:
            kind = "parallel"
        env = rc.resolve_env(rc.pipeline.get("environment"), stage.get("environment"))
        if not holds(stage.get("when"), rc.facts(env)):
            eng.stage_record(rc, name, kind, position, parent, defer=True)  # stored with its end, just below
            eng.finish_stage(rc, name, "skipped", {"why": "when did not hold"})
            return "skipped"
        # Stages that record their step(s) at once store the stage with them (one transaction, not two).
        eng.stage_record(rc, name, kind, position, parent, defer=kind not in ("approve", "parallel"))
        timeout = spec.parse_duration(stage.get("timeout")) if kind != "approve" else None
        stage_deadline = rc.ctl.step_deadline(timeout)
        status, detail = "failed", {}
        for attempt in range(1 + int(stage.get("retry") or 0)):
            try:
                status, detail = self._kind(kind, stage, env, stage_deadline, position)
            except Exception as e:  # noqa: BLE001 - steps turn exceptions into statuses
                w = eng.writer(rc, None)
                w.line(f"stage {name}: {e.__class__.__name__}: {getattr(e, 'message', None) or e}")
                w.close()
                status, detail = "failed", {"error": str(e)[:500]}
            if status != "failed" or rc.ctl.cancelled.is_set():
                break
            if attempt < int(stage.get("retry") or 0):
                w = eng.writer(rc, None)
                w.line(f"stage {name} failed; retrying ({attempt + 1}/{stage.get('retry')})")
                w.close()
        if status == "waiting":
            return status
        if stage_deadline and time.monotonic() >= stage_deadline and status in BAD and not rc.ctl.cancelled.is_set():
            status = "timed-out"
        eng.finish_stage(rc, name, status, detail)
        if detail:
            rc.outputs[name] = detail
        self.post(stage.get("post"), "success" if status in ("succeeded", "skipped") else
                  ("aborted" if status == "aborted" else "failure"), name)
        return status

    def _kind(self, kind: str, stage: dict, env: dict, deadline: float | None, position: int) -> tuple[str, dict]:
        if kind == "parallel":
            results: list[str] = []
            lock = threading.Lock()

            def one(sub: dict, i: int) -> None:
                st = self.run(sub, position * 100 + i + 1, stage["name"])
                with lock:
                    results.append(st)

            threads = [threading.Thread(target=one, args=(sub, i), daemon=True) for i, sub in enumerate(stage["parallel"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            bad = [r for r in results if r in BAD]
            return (bad[0] if bad else "succeeded"), {}
        if kind in ("command", "test"):
            return self.steps(stage["name"], stage.get("steps") or [], env, deadline, stage.get("image")), {}
        if kind == "approve":
            return approvals.wait_for_decision(self, stage, env)
        return self._single(kind, stage, env, deadline)

    def _single(self, kind: str, stage: dict, env: dict, deadline: float | None) -> tuple[str, dict]:
        """fetch / build / push / deploy: one implicit step with its log."""
        rc, eng, svc = self.rc, self.engine, self.svc
        step_id = eng.new_step(rc, stage["name"], kind, 0)
        w = eng.writer(rc, step_id)
        status, detail = "succeeded", {}
        try:
            if kind == "fetch":
                project = svc.project(rc.row.project)
                creds = svc.project_credentials(rc.row.project)
                for v in creds.values():
                    if isinstance(v, str) and v not in rc.secret_values:
                        rc.secret_values.append(v)
                w.line(f"fetching {rc.commit[:12]} of {project.repo_url}")
                ev = rc.row.event or {}
                w.line(source.clone(rc.workspace, project.repo_url, rc.commit, depth=int(stage.get("depth") or 0),
                                    submodules=bool(stage.get("submodules")), credentials=creds, ref=ev.get("ref") or ""))
                detail = {"commit": rc.commit}
            elif kind == "build":
                labels = {"org.opencontainers.image.revision": rc.commit,
                          "org.opencontainers.image.source": svc.project(rc.row.project).repo_url,
                          "io.shipway.run": str(rc.row.id), "io.shipway.project": rc.row.project}
                registry = self._push_registry()
                detail = images.build(svc.docker, rc.workspace, stage, rc.values, registry, w, labels)
            elif kind == "push":
                built = self._built()
                auth = None
                cred = stage.get("credentials")
                if cred:
                    password = rc.project_secrets.get(cred["password"]["from_secret"], "")
                    rc.secret_values.append(password)
                    auth = {"username": cred.get("username", ""), "password": password}
                detail = dict(images.push(svc.docker, built, w, auth), image=built["refs"][0])
            elif kind == "deploy":
                detail = deploy_stage(self, stage, w)
        except images.StageError as e:
            w.line(str(e))
            status, detail = "failed", {"error": str(e)}
        except (ShipwayError, ValueError, OSError) as e:
            msg = getattr(e, "message", None) or str(e)
            w.line(f"{kind} failed: {msg}")
            status, detail = "failed", {"error": msg[:500]}
        except Exception as e:  # noqa: BLE001 - git, docker and HTTP errors of all shapes
            w.line(f"{kind} failed: {e.__class__.__name__}: {str(e)[:1000]}")
            status, detail = "failed", {"error": f"{e.__class__.__name__}: {str(e)[:300]}"}
        if rc.ctl.cancelled.is_set() and status == "failed":
            status = "aborted"
        w.close(status=status, finished_at=utcnow())
        return status, detail

    def _push_registry(self) -> str:
        for _p, st in spec.iter_stages(self.rc.pipeline["stages"]):
            if st.get("kind") == "push":
                return st.get("registry") or self.svc.registry_address or ""
        return self.svc.registry_address or ""

    def _built(self) -> dict:
        for _p, st in reversed(list(spec.iter_stages(self.rc.pipeline["stages"]))):
            out = self.rc.outputs.get(st["name"])
            if st.get("kind") == "build" and out and out.get("refs"):
                return out
        raise images.StageError("no image was built before this stage")

    def image_to_deploy(self) -> str:
        for _p, st in reversed(list(spec.iter_stages(self.rc.pipeline["stages"]))):
            out = self.rc.outputs.get(st["name"]) or {}
            if st.get("kind") == "push" and out.get("image"):
                return out["image"]
        return self._built()["refs"][0]

    # -- steps ---------------------------------------------------------------
    def steps(self, stage_name: str, steps: list[dict], env: dict, deadline: float | None,
              default_image: str | None) -> str:
        """Run ``steps`` in order until one fails (unless ``continue_on_error``); the stage's status.

        Step N+1 is launched as soon as step N's status is known; step N's records are written and step
        N+2 prepared while N+1 runs (see :mod:`.step_jobs`)."""
        rc, eng = self.rc, self.engine
        if not steps:
            return "succeeded"
        # Stored while the first step runs (one transaction for all, with the stage's start).
        ids = eng.new_steps(rc, stage_name, [step_label(st) for st in steps], defer=True)

        def prepare(i: int) -> StepJob:
            return StepJob(self, stage_name, steps[i], env, deadline, default_image, ids[i])
        job, ended = prepare(0), None
        try:
            for i, step in enumerate(steps):
                if rc.ctl.cancelled.is_set():
                    return "aborted"
                job.launch()
                if ended is not None:
                    ended, last = None, ended
                    last.end()
                nxt = prepare(i + 1) if i + 1 < len(steps) else None
                st = job.wait()
                ended = job
                if st in BAD and not step.get("continue_on_error"):
                    return st
                job = nxt
            return "succeeded"
        except BaseException:
            job.abandon()  # launched but never waited for: its process must not outlive the stage
            raise
        finally:
            if ended is not None:
                ended.end()

    # -- post ----------------------------------------------------------------
    def post(self, post: dict | None, outcome: str, where: str) -> None:
        """Run post steps for ``outcome`` (success/failure/aborted) and always; ``changed`` vs the previous run."""
        if not post:
            return
        blocks = [k for k in ("always", outcome) if post.get(k)]
        if post.get("changed") and self.svc.outcome_changed(self.rc.row, outcome):
            blocks.append("changed")
        saved = self.rc.ctl.cancelled.is_set()
        for k in blocks:
            # post steps run even after a cancel (cleanup), bounded by their own timeouts
            ctl_backup = self.rc.ctl
            self.rc.ctl = commands.Control(deadline=None) if saved else ctl_backup
            try:
                env = self.rc.resolve_env(self.rc.pipeline.get("environment"))
                env["SHIPWAY_OUTCOME"] = outcome
                self.steps(f"{where}.post.{k}"[:64], post[k], env, time.monotonic() + 600, None)
            finally:
                self.rc.ctl = ctl_backup
