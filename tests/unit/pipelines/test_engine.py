"""The engine end to end on the host: stages, steps, when, post, parallel, retry, timeout, secrets, params."""

from __future__ import annotations

from pathlib import Path

from shipway.pipelines.states import RunState

BASIC = """
name: app
environment:
  GREETING: hello
  TOKEN: {from_secret: api_token}
parameters:
  - {name: target, type: choice, choices: [staging, prod], default: staging}
stages:
  - name: fetch
    kind: fetch
  - name: test
    steps:
      - run: echo "$GREETING from $SHIPWAY_PROJECT to $PARAM_TARGET"; cat README.md
      - name: secret
        run: |
          echo "token is $TOKEN"; printf 'split %s' "$TOKEN" | fold -w 5
  - name: only-on-release
    when: {branch: "release/*"}
    steps: [{run: echo nope}]
  - name: both
    parallel:
      - name: left
        steps: [{argv: [echo, left]}]
      - name: right
        steps: [{argv: [echo, right]}]
post:
  always: [{run: echo post-always}]
  failure: [{run: echo post-failure}]
"""


def test_successful_run_with_stages_secrets_params(penv):
    penv.project(pipeline=BASIC, secrets={"api_token": "s3cr3t-value-123"})
    run = penv.start(params={"target": "prod", "branch": "main"}, requested_by="alice")
    assert run["status"] == "queued" and not run["duplicate"]
    done = penv.wait(run["id"])
    log = penv.log(run["id"])
    assert done["status"] == "succeeded", (done, log)
    st = {s["name"]: s["status"] for s in done["stages"]}
    assert st == {"fetch": "succeeded", "test": "succeeded", "only-on-release": "skipped", "both": "succeeded",
                  "left": "succeeded", "right": "succeeded"}
    assert "hello from app to prod" in log and "# test repository" in log
    assert "s3cr3t-value-123" not in log and "token is ***" in log
    assert "post-always" in log and "post-failure" not in log
    assert done["commit"] and len(done["commit"]) == 40


def test_failure_retry_timeout_and_post(penv):
    penv.project(pipeline="""
stages:
  - name: flaky
    steps:
      - run: test -f marker || { touch marker; exit 3; }
        retry: 1
  - name: slow
    timeout: 1
    steps: [{run: sleep 30}]
post:
  failure: [{run: echo cleanup-after-failure}]
""")
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "failed"
    st = {s["name"]: s for s in done["stages"]}
    assert st["flaky"]["status"] == "succeeded" and st["flaky"]["steps"][0]["attempts"] == 2
    assert st["slow"]["status"] == "timed-out"
    assert "cleanup-after-failure" in penv.log(done["id"])


def test_invalid_file_fails_at_once_with_located_errors(penv):
    penv.project(pipeline="stages:\n  - name: a\n    steps:\n      - run: x\n        timout: 3\n")
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "failed"
    assert done["errors"][0]["line"] == 5 or done["errors"][0]["line"] == 4
    assert done["errors"][0]["path"] == "stages[0].steps[0]"
    assert "timout" in done["errors"][0]["message"] and not done["stages"]


def test_shell_syntax_in_event_data_is_never_executed(penv, tmp_path):
    from shipway.webhook.events import PushEvent
    marker = tmp_path / "pwned"
    penv.project(pipeline="stages:\n  - name: s\n    steps:\n      - run: echo \"branch=$SHIPWAY_BRANCH msg=$SHIPWAY_COMMIT_MESSAGE\"\n")
    sha = penv.git.repo.head.commit.hexsha
    evil = f"$(touch {marker}); `touch {marker}`; touch {marker}"
    ev = PushEvent(forge="generic", kind="push", delivery_id="d1", ref="refs/heads/main", branch="main",
                   commit=sha, message=evil, author=evil)
    done = penv.wait(penv.svc.start_run("app", event=ev, trigger="push", idempotency_key="k1")["id"])
    assert done["status"] == "succeeded"
    assert not marker.exists()
    assert evil in penv.log(done["id"])


def test_idempotency_key_returns_the_same_run(penv):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'true'}]\n")
    a = penv.start(idempotency_key="delivery-1", params={"branch": "main"})
    b = penv.start(idempotency_key="delivery-1", params={"branch": "main"})
    assert a["id"] == b["id"] and b["duplicate"] and not a["duplicate"]


def test_cancel_running_run(penv):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'echo started; sleep 60'}]\n")
    run = penv.start(params={"branch": "main"})
    from support.waiting import wait_for
    wait_for(lambda: "started" in penv.log(run["id"]), 20)
    penv.svc.cancel(run["id"], by="bob")
    done = penv.wait(run["id"])
    assert done["status"] == "aborted" and "bob" in done["reason"]


def test_junit_reports_are_collected(penv):
    xml = ('<testsuite><testcase classname="t" name="ok"/><testcase classname="t" name="bad">'
           '<failure message="boom"/></testcase></testsuite>')
    penv.project(pipeline="stages:\n  - {name: f, kind: fetch}\n  - name: t\n    steps:\n"
                          "      - {run: 'mkdir -p r && cp report.xml r/', junit: 'r/*.xml'}\n",
                 files={"report.xml": xml})
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    junit = done["stages"][1]["steps"][0]["junit"]
    assert junit["tests"] == 2 and junit["failures"] == 1 and junit["failed_cases"][0]["name"] == "t.bad"


def test_workspace_paths_cannot_escape(penv):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: pwd, workdir: '../../'}]\n")
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "failed"
    assert "outside the workspace" in penv.log(done["id"])


def test_pipeline_triggers_and_timeout(penv):
    from shipway.webhook.events import PushEvent
    penv.project(pipeline="triggers:\n  push: {branches: [main], paths: ['src/**']}\n  manual: false\n"
                          "timeout: 1\nstages:\n  - name: s\n    steps: [{run: 'sleep 20'}]\n")
    sha = penv.git.repo.head.commit.hexsha

    def push(branch, paths, key):
        ev = PushEvent(forge="generic", kind="push", delivery_id=key, ref=f"refs/heads/{branch}", branch=branch,
                       commit=sha, changed_paths=tuple(paths), paths_complete=True)
        return penv.wait(penv.svc.start_run("app", event=ev, trigger="push", idempotency_key=key)["id"])

    other = push("dev", ["src/a.py"], "k-dev")
    assert other["status"] == "skipped" and "triggers.push.branches" in other["reason"]
    docs = push("main", ["docs/x.md"], "k-docs")
    assert docs["status"] == "skipped" and "paths" in docs["reason"]
    manual = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert manual["status"] == "skipped"
    slow = push("main", ["src/a.py"], "k-src")
    assert slow["status"] == "timed-out"
    assert all(st["status"] == "timed-out" for st in slow["stages"])  # none if the clock ran out before it


def test_unknown_secret_is_a_located_error(penv):
    penv.project(pipeline="environment:\n  A: {from_secret: nope}\nstages:\n  - name: s\n    steps: [{run: 'true'}]\n",
                 secrets={"real": "value-123"})
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "failed"
    err = done["errors"][0]
    assert err["path"] == "environment.A.from_secret" and err["line"] == 2 and "nope" in err["message"]
    assert "value-123" not in str(done)


def test_manual_runs_show_their_branch(penv):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'echo on $SHIPWAY_BRANCH'}]\n")
    done = penv.wait(penv.start()["id"])  # no branch given: the project's branch
    assert done["status"] == "succeeded" and done["branch"] == "main"
    assert "on main" in penv.log(done["id"])
    head = done["commit"]
    by_commit = penv.wait(penv.start(params={"commit": head})["id"])  # a commit: the branch whose head it is
    assert by_commit["status"] == "succeeded" and by_commit["branch"] == "main" and by_commit["commit"] == head
    assert penv.svc.list_runs("app")[0]["branch"] == "main"


def test_log_limit_truncates_with_a_marker_and_keeps_secrets_out(penv):
    secret = "tok-0123456789-secret"
    penv.project(pipeline="log_limit: 2KiB\nenvironment: {T: {from_secret: t}}\nstages:\n  - name: s\n    steps:\n"
                          "      - run: 'i=0; while [ $i -lt 400 ]; do echo \"line $i $T\"; i=$((i+1)); done'\n"
                          "      - run: 'i=0; while [ $i -lt 400 ]; do echo \"big $i $T\"; i=$((i+1)); done'\n"
                          "        log_limit: 0\n", secrets={"t": secret})
    done = penv.wait(penv.start()["id"])
    log = penv.log(done["id"])
    assert done["status"] == "succeeded", log
    assert secret not in log and secret[:8] not in log.replace("tok-0123456789-secret", "")
    assert "[shipway] log truncated" in log and "bytes of output were not stored" in log
    assert "line 399" not in log and "line 0 ***" in log
    assert "big 399 ***" in log  # log_limit: 0 on the second step: everything stored
    steps = done["stages"][0]["steps"]
    assert [s["status"] for s in steps] == ["succeeded", "succeeded"]
    assert all(s["started_at"] and s["finished_at"] for s in steps)


def test_many_short_steps_share_transactions_and_records_stay_exact(penv, monkeypatch):
    from shipway.pipelines import logs
    stores = []
    orig = logs.Journal.flush

    def counting(self, extra=None):
        if self._spans or self._steps or self._ops or extra is not None:
            stores.append(1)  # a flush with something to store: one transaction
        return orig(self, extra)
    monkeypatch.setattr(logs.Journal, "flush", counting)
    steps = "".join(f"      - run: 'echo step{i}'\n" for i in range(20))
    penv.project(pipeline=f"stages:\n  - name: s\n    steps:\n{steps}")
    done = penv.wait(penv.start()["id"])
    assert done["status"] == "succeeded"
    sp = done["stages"][0]["steps"]
    assert [s["status"] for s in sp] == ["succeeded"] * 20 and [s["exit_code"] for s in sp] == [0] * 20
    assert all(a["finished_at"] <= b["started_at"] for a, b in zip(sp, sp[1:]))  # real times, in order
    log = penv.log(done["id"])
    assert all(f"step{i}\n" in log for i in range(20))
    assert len(stores) < 20  # not one transaction per step


def test_overlapped_steps_keep_the_log_in_order_and_stop_at_a_failure(penv):
    """Step N+1 starts before step N's records are written (step_jobs): the log still reads in order, and a
    step prepared ahead of a failure never shows."""
    penv.project(pipeline="""
stages:
  - name: s
    steps:
      - {name: one, run: 'echo out-one'}
      - {name: two, run: 'echo out-two; exit 4'}
      - {name: three, run: 'echo out-three'}
  - name: t
    steps:
      - {name: four, run: 'echo out-four'}
""")
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "failed"
    assert penv.log(done["id"]).split("\n") == [
        "$ one", "out-one", "exit code 0", "$ two", "out-two", "exit code 4", ""]
    steps = done["stages"][0]["steps"]
    assert [(s["name"], s["status"], s["exit_code"]) for s in steps] == [
        ("one", "succeeded", 0), ("two", "failed", 4), ("three", "skipped", None)]



def test_an_error_preparing_a_step_ahead_is_raised_at_its_turn():
    """A step is prepared while the previous one runs; what fails then (an environment that cannot be
    resolved) must surface where the step would have started, not earlier."""
    from types import SimpleNamespace

    import pytest

    from shipway.core.errors import ShipwayError
    from shipway.pipelines.step_jobs import StepJob

    def resolve_env(_layer):
        raise ShipwayError("environment X: the project has no secret 'missing'")
    runner = SimpleNamespace(rc=SimpleNamespace(resolve_env=resolve_env, workspace=Path("/tmp")))
    job = StepJob(runner, "s", {"run": "true", "environment": {"X": {"from_secret": "missing"}}}, {}, None, None, 1)
    with pytest.raises(ShipwayError, match="no secret 'missing'"):
        job.launch()


def test_a_launched_step_never_outlives_a_failing_stage(penv, monkeypatch):
    """If the bookkeeping of step N fails after step N+1's process has started, that process is killed and
    reaped (not left running unwatched) and the stage fails."""
    import subprocess
    import time as _time

    from shipway.pipelines import step_jobs
    real_end = step_jobs.StepJob.end

    def end(self):
        if self.label == "one":
            raise RuntimeError("records broke")
        return real_end(self)
    monkeypatch.setattr(step_jobs.StepJob, "end", end)
    penv.project(pipeline="stages:\n  - name: s\n    steps:\n      - {name: one, run: 'true'}\n"
                          "      - {name: two, run: 'sleep 31.25'}\n")
    t0 = _time.monotonic()
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "failed" and _time.monotonic() - t0 < 15
    assert "records broke" in penv.log(done["id"])
    left = subprocess.run(["pgrep", "-f", "sleep 31.25"], capture_output=True, text=True).stdout.split()
    assert left == []


def test_junit_reports_are_read_before_the_next_step_can_touch_them(penv, monkeypatch):
    """Step N's records are written while step N+1 runs; its JUnit reports must be read before, or step N+1
    could delete or rewrite them first. Here step N's end is held until step N+1 has deleted them."""
    import time as _time

    from shipway.pipelines import step_jobs
    real_end = step_jobs.StepJob.end

    def end(self):
        if self.label == "tests":
            reports, deadline = self.runner.rc.workspace / "r", _time.monotonic() + 10
            while reports.exists() and _time.monotonic() < deadline:  # until the next step removed them
                _time.sleep(0.01)
        return real_end(self)
    monkeypatch.setattr(step_jobs.StepJob, "end", end)
    xml = '<testsuite><testcase classname="t" name="ok"/></testsuite>'
    penv.project(pipeline="stages:\n  - {name: f, kind: fetch}\n  - name: t\n    steps:\n"
                          "      - {name: tests, run: 'mkdir -p r && cp report.xml r/', junit: 'r/*.xml'}\n"
                          "      - {name: cleanup, run: 'rm -rf r'}\n",
                 files={"report.xml": xml})
    done = penv.wait(penv.start(params={"branch": "main"})["id"])
    assert done["status"] == "succeeded"
    assert done["stages"][1]["steps"][0]["junit"]["tests"] == 1
