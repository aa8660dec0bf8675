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
