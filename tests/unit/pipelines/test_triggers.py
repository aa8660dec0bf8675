"""Webhook → run (signed, deduplicated), cron triggers persisted in SQL, concurrency groups, lint CLI, metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

from click.testing import CliRunner

from shipway.pipelines.states import RunState
from support.waiting import wait_for

SECRET = "webhook-secret-for-tests-0123456789"


def _deliver(client, sha: str, delivery: str, message: str = "m", branch: str = "main"):
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": sha, "message": message}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/generic/app", data=body, headers={
        "Content-Type": "application/json", "X-Shipway-Event": "push", "X-Shipway-Delivery": delivery,
        "X-Shipway-Signature": sig})


def test_signed_webhook_starts_one_run_per_delivery(unit_app, penv):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'echo \"$SHIPWAY_COMMIT_MESSAGE\"'}]\n",
                 webhook_secret=SECRET)
    sha = penv.git.repo.head.commit.hexsha
    client = unit_app.test_client()
    answers = []

    def send():
        answers.append(_deliver(client, sha, "same-delivery", "msg `id` $(id)"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a.status_code == 202 for a in answers), [a.get_json() for a in answers]
    ids = {a.get_json()["runs"][0]["id"] for a in answers if a.get_json().get("runs")}
    assert len(ids) == 1
    run_id = ids.pop()
    done = penv.wait(run_id)
    assert done["status"] == "succeeded" and done["trigger"] == "push" and done["commit"] == sha
    assert "msg `id` $(id)" in penv.log(run_id)
    bad = client.post("/webhooks/generic/app", data=b"{}", headers={"X-Shipway-Signature": "sha256=00"})
    assert bad.status_code == 401
    assert len(penv.svc.list_runs("app")) == 1


def test_cron_jobs_persist_and_fire_once_per_tick(penv):
    from shipway.pipelines import cron
    penv.project(pipeline="triggers:\n  cron: [{schedule: '*/5 * * * *', branch: main}]\n"
                          "stages:\n  - name: s\n    steps: [{run: 'true'}]\n")
    c = cron.CronTriggers(penv.ctx, penv.svc)
    c.start()
    try:
        done = penv.wait(penv.start(params={"branch": "main"})["id"])  # loading the pipeline syncs its schedules
        assert done["status"] == "succeeded"
        assert [j["schedule"] for j in c.jobs()] == ["*/5 * * * *"]
    finally:
        c.stop()
    again = cron.CronTriggers(penv.ctx, penv.svc)  # a restart: the job comes back from the SQL job store
    again.start()
    try:
        assert [(j["project"], j["branch"]) for j in again.jobs()] == [("app", "main")]
        cron.fire("app", "main", "*/5 * * * *")
        cron.fire("app", "main", "*/5 * * * *")  # the same tick (a second scheduler, a replay): one run
        crons = [r for r in penv.svc.list_runs("app") if r["trigger"] == "cron"]
        assert len(crons) == 1
        assert penv.wait(crons[0]["id"])["status"] == "succeeded"
    finally:
        again.stop()


def test_concurrency_queue_and_cancel_in_progress(penv):
    penv.project(pipeline="concurrency: {group: 'deploy-{branch}'}\n"
                          "stages:\n  - name: s\n    steps: [{run: 'echo start; sleep 2; echo end'}]\n")
    a = penv.start(params={"branch": "main"})
    wait_for(lambda: "start" in penv.log(a["id"]), 20)
    b = penv.start(params={"branch": "main"})
    wait_for(lambda: "waiting for run" in penv.log(b["id"]), 20)
    da, db = penv.wait(a["id"]), penv.wait(b["id"])
    assert da["status"] == db["status"] == "succeeded"
    assert db["stages"][0]["started_at"] >= da["finished_at"]

    penv.git.commit({".shipway.yml": "concurrency: {group: g, mode: cancel-in-progress}\n"
                                     "stages:\n  - name: s\n    steps: [{run: 'echo start; sleep 30'}]\n"}, "cip")
    penv.git.push()
    c = penv.start(params={"branch": "main"})
    wait_for(lambda: "start" in penv.log(c["id"]), 20)
    d = penv.start(params={"branch": "main"})
    dc = penv.wait(c["id"])
    assert dc["status"] == "aborted" and "superseded" in dc["reason"]
    wait_for(lambda: "start" in penv.log(d["id"]), 20)
    penv.svc.cancel(d["id"], by="test")
    assert penv.wait(d["id"])["status"] == "aborted"


def test_lint_cli_reports_every_error(tmp_path):
    from shipway.cli.commands import cli
    f = tmp_path / "p.yml"
    f.write_text("stages:\n  - name: a\n    steps: [{run: x, bogus: 1}]\n  - name: a\n    steps: [{run: y}]\n")
    res = CliRunner().invoke(cli, ["pipeline", "lint", str(f)])
    assert res.exit_code == 1
    assert f"{f}:3:" in res.output and "bogus" in res.output
    f.write_text("stages:\n  - name: a\n    steps: [{run: x}]\n")
    res = CliRunner().invoke(cli, ["pipeline", "lint", str(f)])
    assert res.exit_code == 0 and "ok" in res.output


def test_metrics_count_runs(unit_app, penv):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'exit 1'}]\n")
    assert penv.wait(penv.start(params={"branch": "main"})["id"])["status"] == "failed"
    text = unit_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'shipway_pipeline_runs_total{status="failed"}' in text
    assert "shipway_pipeline_run_duration_seconds_bucket" in text


def test_cron_tick_identity_is_the_due_time_not_the_firing_time():
    import datetime as dt

    from shipway.pipelines.cron import scheduled_tick
    due = dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.timezone.utc)
    assert scheduled_tick("0 3 * * *", due + dt.timedelta(seconds=130)) == due  # fired late (a failover)
    assert scheduled_tick("*/5 * * * *", due + dt.timedelta(minutes=4, seconds=59)) == due
