"""The test harness every issue's tests use.

Tiers:
* ``tests/unit`` — no services; seconds.
* ``tests/integration`` — real ZooKeeper, Docker Engine, registry and git,
  started here by fixtures.
* ``tests/e2e`` — whole journeys through a real ``shipway serve``.

A service that cannot start fails the tests that need it; nothing is skipped
for a missing service (CI must not go green without the real parts).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from shipway.core import launcher
from shipway.core.context import Context
from shipway.core.settings import load_settings
from support import dockerenv
from support.gitrepo import GitRepo
from support.server import LiveServer
from support.zookeeper import ZkFaults, ZkServer, new_chroot

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.fspath)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


# -- ZooKeeper -------------------------------------------------------------
@pytest.fixture(scope="session")
def zk_server(tmp_path_factory) -> ZkServer:
    """One real ZooKeeper for the whole session, on a free port."""
    server = ZkServer(tmp_path_factory.mktemp("zookeeper"))
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"cannot start ZooKeeper for the tests: {e}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def zk_hosts(zk_server) -> str:
    """A connect string with a fresh chroot; the chroot is deleted after the test."""
    chroot = new_chroot()
    admin = KazooClient(zk_server.hosts)
    admin.start(timeout=15)
    admin.ensure_path(chroot)
    yield zk_server.hosts + chroot
    try:
        # A test that restarts ZooKeeper may expire this session; the retry waits for a new one.
        KazooRetry(max_tries=20, max_delay=2, deadline=30)(admin.delete, chroot, recursive=True)
    finally:
        admin.stop()
        admin.close()


@pytest.fixture
def zk(zk_hosts) -> KazooClient:
    """A started kazoo client inside the test's chroot."""
    client = KazooClient(zk_hosts, timeout=4)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def zk_faults(zk_server) -> ZkFaults:
    return ZkFaults(zk_server)


# -- Docker and the registry ----------------------------------------------
@pytest.fixture(scope="session")
def docker_client():
    try:
        client = dockerenv.engine()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield client
    client.close()


@pytest.fixture
def docker_tracker(docker_client):
    """Labels to put on everything the test creates; removes it all afterwards."""
    tracker = dockerenv.DockerTracker(docker_client)
    yield tracker
    tracker.cleanup()


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory):
    """A real Distribution registry on 127.0.0.1; yields its ``host:port``."""
    port = launcher.free_port()
    proc = launcher.registry(tmp_path_factory.mktemp("registry"), port, binary="/usr/bin/docker-registry")
    try:
        proc.start()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"cannot start the image registry for the tests: {e}", pytrace=False)
    yield f"127.0.0.1:{port}"
    proc.stop()


# -- git ----------------------------------------------------------------
@pytest.fixture
def git_repo(tmp_path) -> GitRepo:
    if shutil.which("git") is None:
        pytest.fail("git is not installed; run `make test`", pytrace=False)
    return GitRepo(tmp_path / "git")


# -- the app ------------------------------------------------------------
def _settings(tmp_path: Path, **overrides):
    values = {"data_dir": str(tmp_path / "data"), "secret_key": "test-secret-key", "log_level": "warning"}
    values.update(overrides)
    return load_settings(values, env={})


@pytest.fixture
def unit_ctx(tmp_path) -> Context:
    """A context with a real SQLite store and no ZooKeeper (for unit tests)."""
    ctx = Context.from_settings(_settings(tmp_path, zk="127.0.0.1:1", registry="127.0.0.1:1"))
    ctx.store.create_all()
    yield ctx
    ctx.close()


@pytest.fixture
def ctx(tmp_path, zk_hosts, registry_server) -> Context:
    """A connected context: real ZooKeeper chroot, real registry, SQLite in tmp."""
    context = Context.from_settings(_settings(tmp_path, zk=zk_hosts, registry=registry_server,
                                              zk_session_timeout=4.0))
    context.connect()
    yield context
    context.close()


def _make_app(context):
    from shipway.server.app import create_app

    app = create_app(context)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def unit_app(unit_ctx):
    return _make_app(unit_ctx)


@pytest.fixture
def app(ctx):
    return _make_app(ctx)


class TokenClient:
    """A Flask test client that sends a bearer token for a user of the given role."""

    def __init__(self, app, context, role: str) -> None:
        users = context.users
        name = f"{role}-user"
        if not any(u["username"] == name for u in users.list()):
            users.add(name, "password-" + role, role)
        self.username = name
        self.token = users.create_token(name, "tests")["token"]
        self.client = app.test_client()

    def open(self, *args, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(*args, headers=headers, **kw)

    def get(self, *a, **kw):
        return self.open(*a, method="GET", **kw)

    def post(self, *a, **kw):
        return self.open(*a, method="POST", **kw)

    def put(self, *a, **kw):
        return self.open(*a, method="PUT", **kw)

    def patch(self, *a, **kw):
        return self.open(*a, method="PATCH", **kw)

    def delete(self, *a, **kw):
        return self.open(*a, method="DELETE", **kw)


@pytest.fixture
def as_role():
    """``as_role(app, role)`` → a client authenticated as a user with ``role``."""
    def make(app, role: str) -> TokenClient:
        return TokenClient(app, app.extensions["shipway"], role)
    return make


@pytest.fixture
def live_server(tmp_path, zk_hosts, registry_server):
    """``shipway serve`` in a subprocess on the test ZooKeeper chroot and registry."""
    server = LiveServer(tmp_path / "serve", zk=zk_hosts, registry=registry_server)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def output_dir(request) -> Path:
    """``test-output/<test name>/`` for screenshots and reports a person can look at."""
    path = OUTPUT / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path
