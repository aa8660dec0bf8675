"""The SQL store on PostgreSQL: the whole schema of every part, and the core paths through the app."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from shipway.core.context import Context
from shipway.core.settings import load_settings
from shipway.core.store import Base
from support.postgres import PostgresServer
from support.waiting import wait_for

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"cannot start PostgreSQL for the tests: {e}", pytrace=False)
    yield server
    server.stop()


def test_every_table_and_the_auth_paths_work_on_postgres(postgres, tmp_path):
    from shipway.server.app import create_app

    settings = load_settings({"data_dir": str(tmp_path / "data"), "db": postgres.url, "zk": "127.0.0.1:1",
                              "registry": "127.0.0.1:1", "secret_key": "k"}, env={})
    ctx = Context.from_settings(settings)
    try:
        def connects() -> bool:
            with ctx.store.engine.connect():
                return True
        wait_for(connects, 30, message="PostgreSQL to accept connections")
        app = create_app(ctx)  # imports every part's models
        ctx.store.create_all()
        ctx.store.check_writable()
        tables = set(inspect(ctx.store.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables, set(Base.metadata.tables) - tables

        password = ctx.users.ensure_admin()
        assert ctx.users.authenticate("admin", password).role == "admin"
        token = ctx.users.create_token("admin", "pg")["token"]
        client = app.test_client()
        r = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json["username"] == "admin"
        r = client.post("/api/v1/users", json={"username": "pg-dev", "password": "password1", "role": "developer"},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201
        r = client.post("/api/v1/users", json={"username": "pg-dev", "password": "password1", "role": "developer"},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 409
    finally:
        ctx.close()


def test_run_records_hot_path_works_on_postgres(postgres, tmp_path):
    """The pipelines' prebuilt statements (UPDATE/INSERT .. RETURNING, CASE sweeps, executemany) on PostgreSQL:
    record, claim, stage and step records, the journal's transaction, the end with its sweep."""
    from shipway.core.store import Store, utcnow
    from shipway.pipelines import models, runs  # noqa: F401 - tables on Base
    from shipway.pipelines import statements as sql
    from shipway.pipelines.journal import Journal
    from shipway.pipelines.logs import read_chunks
    from shipway.pipelines.states import RunState

    store = Store(postgres.url)
    try:
        wait_for(lambda: store.engine.connect().close() is None, 30, message="PostgreSQL to accept connections")
        store.create_all()
        row, dup = runs.create_run(store, "pg-app", trigger="manual", event={"branch": "main"}, params={},
                                   requested_by=None, idempotency_key="pg-key-1")
        again, dup2 = runs.create_run(store, "pg-app", trigger="manual", event={}, params={}, requested_by=None,
                                      idempotency_key="pg-key-1")
        assert not dup and dup2 and again.id == row.id
        claimed = runs.claim(store, row.id, "ex-pg")
        assert claimed is not None and claimed.status == "running" and runs.claim(store, row.id, "ex-2") is None
        journal = Journal(store, None, row.id, tmp_path / "logs")
        with journal.transaction() as s:
            conn = s.connection()
            if conn.execute(sql.STAGE_RESTART, {"b_run": row.id, "b_name": "s", "b_now": utcnow()}).rowcount == 0:
                conn.execute(sql.STAGE_INSERT, {"run_id": row.id, "name": "s", "kind": "command", "position": 0,
                                                "parent": None, "started_at": utcnow()})
            ids = s.execute(sql.STEPS_INSERT, [{"run_id": row.id, "stage": "s", "name": f"step {i}", "position": i,
                                                "status": "pending", "attempts": 0} for i in range(3)]).scalars().all()
        assert len(ids) == 3 and ids == sorted(ids)
        journal.chunk(ids[0], [b"hello\n"])
        journal.step(ids[0], status="succeeded", exit_code=0, started_at=utcnow(), finished_at=utcnow())
        journal.op(lambda s: s.connection().execute(sql.STAGE_END, {"b_run": row.id, "b_name": "s",
                                                                    "b_status": "failed", "b_now": utcnow()}))
        done = runs.transition(store, row.id, RunState.FAILED, expect=claimed, transaction=journal.transaction,
                               also=lambda s: [s.connection().execute(st, {"b_run": row.id, "b_cut": "failed",
                                                                           "b_now": utcnow()}) for st in sql.SWEEP])
        journal.close()
        assert done.status == "failed" and runs.run_dict(done)["duration"] >= 0
        stages = runs.stages_of(store, row.id)
        assert stages[0]["status"] == "failed" and stages[0]["duration"] >= 0
        assert [sp["status"] for sp in stages[0]["steps"]] == ["succeeded", "skipped", "skipped"]
        assert [c[2] for c in read_chunks(store, row.id)] == ["hello\n"]
    finally:
        store.dispose()
