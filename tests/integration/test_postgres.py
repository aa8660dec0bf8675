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
