"""Controllers run on one server only: leader election on ZooKeeper, with take-over."""

from __future__ import annotations

import pytest

from shipway.orchestrator.controllers import ControllerManager
from shipway.orchestrator.service import OrchestratorService
from support.waiting import wait_for

pytestmark = [pytest.mark.zookeeper]


def test_one_controller_manager_leads_and_another_takes_over(ctx):
    svc = OrchestratorService(ctx)
    a, b = ControllerManager(svc, resync=0.2), ControllerManager(svc, resync=0.2)
    a.start()
    wait_for(lambda: a.leading, 15, message="the first manager leading")
    b.start()
    try:
        wait_for(lambda: svc.store.find("namespaces", None, "default") is not None, 10,
                 message="the leader's resync creating the default namespace")
        assert a.leading and not b.leading
        a.stop()
        wait_for(lambda: b.leading, 15, message="the second manager taking over")
    finally:
        a.stop()
        b.stop()
