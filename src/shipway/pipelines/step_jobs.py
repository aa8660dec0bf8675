"""One command step of a stage, in three phases that let a stage of short steps overlap its bookkeeping.

A :class:`StepJob` is *prepared* (environment, log writer, the ``$ command`` line), *launched* (its process
started), *waited* for (output pumped, retries), and *ended* (exit code line, JUnit summary, end record).
:meth:`StageRunner.steps <shipway.pipelines.stages.StageRunner.steps>` launches step N+1 as soon as step N's
exit status is known, and only then ends step N and prepares step N+2, while N+1's process runs. When the
kernel runs that process on another core, the ~0.1 ms of Python per step no longer sits between two steps
(bench/pipelines_engine.py, 20 `true` steps: 0.92 → 0.86 ms a step). When it runs it on the server's own
core, the two take turns as before. The log keeps its order: a step's output reaches the run's log file when
its writer hands it on, which for step N is at its end, before step N+1's first output.
"""

from __future__ import annotations

import glob
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from shipway.core.store import utcnow
from shipway.pipelines import commands, source, spec
from shipway.pipelines.journal import PendingId


class StepJob:
    """A command step (host or container) of stage ``stage_name``; see the module docstring for its phases.

    Preparing never raises: an error (e.g. an unknown ``from_secret``) is raised by :meth:`launch`, where
    the step would have started, so a step prepared ahead behaves exactly like one prepared on time.
    """

    def __init__(self, runner, stage_name: str, step: dict, env: dict, deadline: float | None,
                 default_image: str | None, step_id: int | PendingId) -> None:
        self.runner, self.step, self.deadline = runner, step, deadline
        self.error: BaseException | None = None
        self.out = commands.Outcome("failed")
        self.attempts = 0
        self.ended_at = None
        self.junit: dict | None = None  # the JUnit summary, read at the step's end (wait)
        self._process = None  # the started host process of the current attempt (commands.HostProcess)
        self._failed_start: commands.Outcome | None = None  # or why it could not start
        try:
            self._prepare(env, default_image, step_id)
        except Exception as e:  # noqa: BLE001 - raised by launch(), in the step's turn
            self.error = e

    def _prepare(self, env: dict, default_image: str | None, step_id: int | PendingId) -> None:
        rc, step = self.runner.rc, self.step
        self.argv = step["argv"] if "argv" in step else ["sh", "-c", step["run"]]
        self.label = step_label(step)
        self.image = step.get("image") or default_image
        step_env = dict(env)  # the stage's: resolved from the pipeline's and the stage's environment already
        if step.get("environment"):
            step_env.update(rc.resolve_env(step["environment"]))
        self.env = step_env if self.image else commands.base_env(dict(step_env, HOME=str(rc.workspace)))
        # "running" and the end are stored by the run's journal with the step's output (within
        # FLUSH_SECONDS, or at the stage's end): a stage of short steps costs a transaction or two, not one
        # per step.
        self.w = self.runner.engine.writer(rc, step_id, step.get("log_limit"))
        self.bad_workdir = ""
        root = rc.workspace_root  # resolved once per run
        try:
            self.workdir_path = source.inside(root, step["workdir"]) if step.get("workdir") else root
        except ValueError as e:
            self.bad_workdir = str(e)
            return
        self.workdir = str(self.workdir_path.relative_to(root)) if self.workdir_path != root else ""
        self.w.line(self._command_line(0))  # buffered in the writer: stored when the step's output is

    def _command_line(self, attempt: int) -> str:
        return (f"$ {self.label}" + (f"   (in {self.image})" if self.image else "") +
                (f"   (attempt {attempt + 1})" if attempt else ""))

    # -- the phases ---------------------------------------------------------
    def launch(self) -> None:
        """Record the start and start the first attempt's process (host steps; a container step starts in
        :meth:`wait`)."""
        if self.error is not None:
            raise self.error
        self.w.start(status="running", started_at=utcnow())
        if not self.bad_workdir:
            self._start(0)

    def wait(self) -> str:
        """Run the step to its end (its output, its retries); the status. The records are left to :meth:`end`."""
        if self.bad_workdir:
            self.w.line(self.bad_workdir)
            self.ended_at = utcnow()
            return "failed"
        retries = int(self.step.get("retry") or 0)
        for attempt in range(1 + retries):
            if attempt:
                self.w.line(self._command_line(attempt))
                self._start(attempt)
            self.out = self._finish()
            if self.out.status != "failed":
                break
        self.ended_at = utcnow()
        # Read now, before the next step starts and can rewrite the reports.
        self.junit = collect_junit(self.runner.rc.workspace, self.step["junit"]) if self.step.get("junit") else None
        return self.out.status

    def end(self) -> None:
        """The exit code line, the JUnit summary and the step's end record."""
        w, out, junit = self.w, self.out, self.junit
        if self.bad_workdir:
            w.close(status="failed", finished_at=self.ended_at)
            return
        w.line(f"exit code {out.exit_code}" if out.status in ("succeeded", "failed") else f"{out.status}")
        if junit:
            w.line(f"tests: {junit['tests']} failures: {junit['failures']} errors: {junit['errors']} "
                   f"skipped: {junit['skipped']}")
        w.close(status=out.status, finished_at=self.ended_at, exit_code=out.exit_code, attempts=self.attempts,
                junit=junit)

    def abandon(self) -> None:
        """Called when the stage stops before :meth:`wait` could run (an exception): kill and reap the process."""
        if self._process is not None:
            self._process.kill()
            self._process.finish()
            self._process = None

    # -- one attempt -----------------------------------------------------------
    def _start(self, attempt: int) -> None:
        rc, svc = self.runner.rc, self.runner.svc
        self.attempts = attempt + 1
        self._step_deadline = rc.ctl.step_deadline(spec.parse_duration(self.step.get("timeout")), self.deadline)
        svc.metrics.first_step(rc.row.id)
        if self.image:
            return
        started = commands.start_host(self.argv, cwd=self.workdir_path, env=self.env, writer=self.w, ctl=rc.ctl,
                                      deadline=self._step_deadline)
        if isinstance(started, commands.Outcome):
            self._failed_start = started
        else:
            self._process = started

    def _finish(self) -> commands.Outcome:
        rc, svc = self.runner.rc, self.runner.svc
        if self.image:
            return commands.run_container(
                svc.docker, self.image, self.argv, workspace=rc.workspace, workdir=self.workdir, env=self.env,
                writer=self.w, ctl=rc.ctl, deadline=self._step_deadline,
                labels={commands.LABEL_OWNER: "pipelines", "io.shipway.run": str(rc.row.id), **svc.container_labels})
        process, self._process = self._process, None
        return process.finish() if process is not None else self._failed_start


def step_label(step: dict) -> str:
    """What the run view calls a step: its name, else the first line of its command."""
    text = step.get("name") or step.get("run") or " ".join(step.get("argv") or [])
    lines = text.strip().splitlines()
    return lines[0][:120] if lines else "step"


def collect_junit(workspace: Path, patterns: Any) -> dict | None:
    """Summarise JUnit XML files matching ``patterns`` (inside the workspace only)."""
    pats = [patterns] if isinstance(patterns, str) else list(patterns or [])
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed_cases": [], "files": []}
    root = workspace.resolve()
    for pat in pats:
        for f in sorted(glob.glob(str(root / pat), recursive=True)):
            p = Path(f).resolve()
            if root not in p.parents or not p.is_file() or p.stat().st_size > 20 << 20:
                continue
            try:
                tree = ET.parse(p)
            except ET.ParseError:
                continue
            total["files"].append(str(p.relative_to(root)))
            for case in tree.getroot().iter("testcase"):
                total["tests"] += 1
                for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                    el = case.find(tag)
                    if el is not None:
                        total[key] += 1
                        if key != "skipped" and len(total["failed_cases"]) < 50:
                            total["failed_cases"].append({"name": f"{case.get('classname', '')}.{case.get('name', '')}",
                                                          "message": (el.get("message") or "")[:300]})
    return total if total["files"] else None
