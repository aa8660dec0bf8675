"""Fixtures of the registry/discovery tests: the naming service on the test's ZooKeeper chroot, SDK clients."""

from __future__ import annotations

import pytest

from shipway.discovery import Discovery


@pytest.fixture
def naming(app):
    return app.extensions["shipway"].services["naming"]


@pytest.fixture
def sdk(zk_hosts, tmp_path):
    """Factory of discovery clients on the test chroot (closed after the test)."""
    made = []

    def make(**kw) -> Discovery:
        kw.setdefault("snapshot_dir", str(tmp_path / f"snap{len(made)}"))
        kw.setdefault("session_timeout", 4.0)
        d = Discovery(zk_hosts, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def restart_proof_hosts(zk_server):
    """Like ``zk_hosts`` (a fresh chroot), but its admin client rides out a ZooKeeper restart.

    The shared fixture's admin client gives up reconnecting during a long restart on a busy machine
    and then fails its teardown; tests that restart ZooKeeper use this one instead.
    """
    from kazoo.client import KazooClient
    from support.zookeeper import new_chroot

    chroot = new_chroot()
    admin = KazooClient(zk_server.hosts, timeout=30,
                        connection_retry=dict(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0))
    admin.start(timeout=15)
    admin.ensure_path(chroot)
    yield zk_server.hosts + chroot
    try:
        zk_server.wait_serving()
        admin.retry(admin.delete, chroot, recursive=True)
    finally:
        admin.stop()
        admin.close()
