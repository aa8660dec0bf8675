"""Run records on a real SQLite store: the claim, the state change with what the engine last saw, the sweep."""

from __future__ import annotations

import pytest

from shipway.pipelines import models, runs  # noqa: F401 - tables on Base
from shipway.pipelines.models import StageRow, StepRow
from shipway.pipelines.states import IllegalTransition, RunState


@pytest.fixture
def store(unit_ctx):
    unit_ctx.store.create_all()
    return unit_ctx.store


def _queued(store) -> int:
    row, dup = runs.create_run(store, "app", trigger="manual", event={}, params={}, requested_by=None,
                               idempotency_key=None)
    assert not dup
    return row.id


def test_claim_returns_the_claimed_run_once(store):
    run_id = _queued(store)
    row = runs.claim(store, run_id, "ex-a")
    assert row is not None and row.status == "running" and row.executor == "ex-a" and row.started_at
    assert runs.claim(store, run_id, "ex-b") is None  # taken: a second executor gets nothing
    assert runs.get_row(store, run_id).executor == "ex-a"


def test_transition_with_a_stale_row_reads_the_run_again(store):
    run_id = _queued(store)
    seen = runs.claim(store, run_id, "ex-a")
    runs.transition(store, run_id, RunState.WAITING)  # changed behind the engine's back
    runs.transition(store, run_id, RunState.RUNNING)
    seen_waiting = runs.transition(store, run_id, RunState.WAITING)
    # `seen` says running, the run is waiting: the compare-and-set on the stale state fails, the run is read
    done = runs.transition(store, run_id, RunState.FAILED, expect=seen)
    assert done.status == "failed" and done.finished_at is not None
    # an expect from which the change is not even allowed (waiting -> succeeded) is ignored, not raised
    other = _queued(store)
    runs.claim(store, other, "ex-a")
    waiting = runs.transition(store, other, RunState.WAITING)
    runs.transition(store, other, RunState.RUNNING)
    assert runs.transition(store, other, RunState.SUCCEEDED, expect=waiting).status == "succeeded"
    with pytest.raises(IllegalTransition):  # and a change the stored state forbids still raises
        runs.transition(store, other, RunState.RUNNING, expect=seen_waiting)


def test_transition_runs_also_in_the_same_transaction_only_when_it_changes(store):
    run_id = _queued(store)
    seen = runs.claim(store, run_id, "ex-a")
    calls = []

    def also(s) -> None:
        calls.append(1)
        s.add(StageRow(run_id=run_id, name="s", kind="command", position=0, status="running"))
        s.add(StepRow(run_id=run_id, stage="s", name="a", position=0, status="pending"))

    runs.transition(store, run_id, RunState.ABORTED, expect=seen, also=also)
    assert calls == [1]
    with pytest.raises(IllegalTransition):
        runs.transition(store, run_id, RunState.FAILED, also=also)
    assert calls == [1]  # no change, no `also`
    with store.session() as s:
        assert [r.status for r in s.query(StageRow).filter_by(run_id=run_id)] == ["running"]


def test_finish_sweeps_what_the_run_left_behind(penv):
    """A failed step ends its run: the steps never reached become skipped, nothing stays running/pending."""
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'exit 3'}, {run: 'true'}, {run: 'true'}]\n")
    run = penv.start(params={"branch": "main"})
    done = penv.wait(run["id"])
    assert done["status"] == "failed"
    steps = [(sp["status"], sp["finished_at"] is not None) for sp in done["stages"][0]["steps"]]
    assert steps == [("failed", True), ("skipped", False), ("skipped", False)]
    assert done["stages"][0]["status"] == "failed"


def test_journal_transaction_stores_the_batch_with_the_change_or_keeps_it(store, tmp_path):
    """The run's end rides on the journal's transaction: pending records and the change commit together;
    when the change fails, the batch goes back to pending and the next flush stores it."""
    from shipway.pipelines.logs import Journal, read_chunks
    j = Journal(store, None, 5, tmp_path / "logs")
    j.chunk(None, [b"first line\n"])
    with pytest.raises(RuntimeError):
        with j.transaction() as s:
            s.add(StageRow(run_id=5, name="lost", kind="command", position=0, status="running"))
            raise RuntimeError("the change failed")
    assert read_chunks(store, 5) == []  # rolled back with the change...
    j.chunk(None, [b"second line\n"])
    j.close()  # ...and stored by the next flush, in order
    assert "".join(c[2] for c in read_chunks(store, 5)) == "first line\nsecond line\n"
    with store.session() as s:
        assert s.query(StageRow).filter_by(run_id=5).count() == 0


def test_pipeline_file_and_commit_reads_are_remembered_only_for_full_shas(tmp_path):
    from support.gitrepo import GitRepo
    from shipway.pipelines import source
    repo = GitRepo(tmp_path / "git")
    repo.commit({".shipway.yml": "one\n"}, "first")
    repo.push()
    cache = tmp_path / "cache"
    text, sha = source.read_pipeline_file(cache, "p", repo.url, None, "main", ".shipway.yml", None)
    assert text == "one\n" and len(sha) == 40
    bare = cache / "p.git"
    assert source._remembered((str(bare), sha, ".shipway.yml")) == "one\n"
    assert source.commit_info(bare, sha)["message"] == "first"
    assert source._remembered((str(bare), sha, None))["message"] == "first"
    source._remember((str(bare), "main", ".shipway.yml"), "stale")  # a branch moves: never remembered
    assert source._remembered((str(bare), "main", ".shipway.yml")) is None
    assert source.read_blob(bare, "0" * 40, ".shipway.yml") is None  # unknown commit: not remembered
    assert source._remembered((str(bare), "0" * 40, ".shipway.yml")) is None


def test_times_written_by_prebuilt_statements_read_back_like_the_others(store):
    """The hot path's prebuilt statements store times exactly as the ORM does (durations can be computed)."""
    from shipway.core.store import utcnow
    from shipway.pipelines import statements as sql
    run_id = _queued(store)
    runs.claim(store, run_id, "ex-a")
    with store.session() as s:
        conn = s.connection()
        conn.execute(sql.STAGE_INSERT, {"run_id": run_id, "name": "a", "kind": "command", "position": 0,
                                        "parent": None, "started_at": utcnow()})
        conn.execute(sql.STAGE_INSERT, {"run_id": run_id, "name": "b", "kind": "command", "position": 1,
                                        "parent": None, "started_at": utcnow()})
        conn.execute(sql.STAGE_RESTART, {"b_run": run_id, "b_name": "b", "b_now": utcnow()})
        conn.execute(sql.STAGE_END, {"b_run": run_id, "b_name": "a", "b_status": "succeeded", "b_now": utcnow()})
    row = runs.transition(store, run_id, RunState.FAILED,
                          also=lambda s: [s.connection().execute(st, {"b_run": run_id, "b_cut": "failed",
                                                                      "b_now": utcnow()}) for st in sql.SWEEP])
    d = runs.run_dict(runs.get_row(store, run_id))
    assert row.status == "failed" and d["duration"] is not None and d["duration"] >= 0
    stages = {st["name"]: st for st in runs.stages_of(store, run_id)}
    assert stages["a"]["status"] == "succeeded" and stages["a"]["duration"] >= 0
    assert stages["b"]["status"] == "failed" and stages["b"]["duration"] >= 0
    with store.session() as s:  # the same text format as ORM-written times (no "+00:00" from the driver)
        started = s.connection().exec_driver_sql(
            "SELECT started_at, finished_at FROM pipeline_runs WHERE id = ?", (run_id,)).one()
    assert all("+" not in str(v) for v in started), started


def test_step_records_deferred_to_the_first_spawn_are_resolved_in_order(store, tmp_path, monkeypatch):
    """A stage's step records are stored while its first step runs: output and step changes queued before
    the ids exist refer to them through PendingId, also when the first attempt to store them fails."""
    from types import SimpleNamespace

    from shipway.pipelines.engine import Engine
    from shipway.pipelines.journal import Journal, PendingId
    from shipway.pipelines.logs import LogWriter, read_chunks
    run_id = _queued(store)
    row = runs.claim(store, run_id, "ex-a")
    assert isinstance(row.event, dict) and row.status == "running"  # built from the returned row, typed
    journal = Journal(store, None, run_id, tmp_path / "logs")
    rc = SimpleNamespace(row=row, journal=journal)
    ids = Engine(SimpleNamespace(store=store)).new_steps(rc, "s", ["a", "b"], defer=True)
    assert all(isinstance(i, PendingId) and i.value is None for i in ids)
    w = LogWriter(store, None, run_id, ids[0], ["hunter2"], journal=journal)
    w.start(status="running")
    w.write_bytes(b"out hunter2\n")
    w.flush()
    with store.session() as s:
        assert s.query(StepRow).filter_by(run_id=run_id).count() == 0  # nothing stored before the spawn
    real = journal._write
    monkeypatch.setattr(journal, "_write", lambda *a: (_ for _ in ()).throw(RuntimeError("database is locked")))
    w.spawned()  # logged, not raised: the step goes on, the batch stays pending
    assert ids[0].value is None
    monkeypatch.setattr(journal, "_write", real)
    w.spawned()  # still urgent: stored now
    assert ids[0].value is not None and ids[1].value == ids[0].value + 1
    w.close(status="succeeded")
    journal.close()
    with store.session() as s:
        steps = {r.name: r for r in s.query(StepRow).filter_by(run_id=run_id)}
    assert steps["a"].status == "succeeded" and steps["b"].status == "pending"
    chunks = read_chunks(store, run_id)
    assert {c[1] for c in chunks} == {ids[0].value} and "".join(c[2] for c in chunks) == "out ***\n"


def test_a_running_stage_and_its_steps_are_shown_while_its_first_step_runs(penv):
    """The stage's records are stored once its first step has started, not at its end: the run view shows
    the stage running, the first step running and the next ones pending while the first is still going."""
    from support.waiting import wait_for
    penv.project(pipeline="stages:\n  - name: build\n    steps: [{run: 'sleep 6'}, {run: 'true'}]\n")
    run = penv.start(params={"branch": "main"})

    def shown():
        stages = penv.svc.run(run["id"], full=True)["stages"]
        return stages if stages and len(stages[0]["steps"]) == 2 else None
    stages = wait_for(shown, 5, message="the stage and its steps are recorded while the first step runs")
    assert stages[0]["name"] == "build" and stages[0]["status"] == "running"
    assert [s["status"] for s in stages[0]["steps"]] == ["running", "pending"]
    done = penv.wait(run["id"])
    assert done["status"] == "succeeded"
    assert [s["status"] for s in done["stages"][0]["steps"]] == ["succeeded", "succeeded"]
