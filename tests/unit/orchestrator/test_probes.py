"""Probe bookkeeping: fast probing of a starting container without changing Kubernetes' failure budget."""

from __future__ import annotations

from shipway.orchestrator import probes
from shipway.orchestrator.probes import ProbeState


def _run(ps: ProbeState, results, start: float = 100.0, until: float = 200.0):
    """Drive ``ps`` like the pod worker: probe when due; ``results(t)`` gives the outcome at time t."""
    t, log = start, []
    while t < until and ps.result is None or (ps.result is False and not log):
        if ps.due(t):
            ok = results(t)
            counted = ps.record(ok, "" if ok else "refused", t)
            log.append((round(t - start, 3), ok, counted))
            if ps.result is not None:
                break
        t = round(max(ps.next_at, t + 0.001), 6)
    return log


def test_readiness_is_probed_fast_until_the_first_success_then_at_period():
    ps = ProbeState({"httpGet": {"port": 80}, "periodSeconds": 1}, 100.0, fast=True)
    log = _run(ps, lambda t: t >= 100.3)
    assert ps.result is True
    first_ok = next(t for t, ok, _ in log if ok)
    assert 0.3 <= first_ok <= 0.3 + probes.FAST_PROBE + 1e-6  # ready within one fast interval, not after 1 s
    assert all(b - a <= probes.FAST_PROBE + 1e-6 for (a, *_), (b, *_) in zip(log, log[1:]))
    assert ps.next_at == 100.0 + first_ok + 1  # from now on: periodSeconds
    # Only the probe on the regular schedule (t=0) counted as a failure; early ones did not.
    assert [t for t, ok, counted in log if not ok and counted] == [0.0]


def test_fast_probes_never_fail_a_startup_probe_sooner_than_kubernetes():
    spec = {"tcpSocket": {"port": 80}, "periodSeconds": 2, "failureThreshold": 3, "initialDelaySeconds": 1}
    ps = ProbeState(spec, 100.0, fast=True)
    log = _run(ps, lambda t: False, until=120)
    assert ps.result is False
    counted = [t for t, _, c in log if c]
    assert counted == [1.0, 3.0, 5.0]  # initialDelay + k × period: the kubelet's budget, unchanged
    assert len(log) > 20  # with early probes in between


def test_liveness_and_exec_probes():
    live = ProbeState({"httpGet": {"port": 80}, "periodSeconds": 5}, 100.0, fast=False)
    assert live.record(False, "x", 100.0) and live.next_at == 105.0  # liveness: never fast
    ex = ProbeState({"exec": {"command": ["true"]}, "periodSeconds": 10}, 100.0, fast=True)
    assert ex.record(False, "x", 100.0) and ex.failures == 1  # the regular probe counts
    assert ex.next_at == 100.0 + probes.FAST_EXEC_PROBE  # exec probes: a slower fast interval
    assert not ex.record(False, "x", 100.25)  # early: not counted
    assert ex.failures == 1


def test_fast_probing_stops_after_its_window():
    ps = ProbeState({"httpGet": {"port": 80}, "periodSeconds": 10, "failureThreshold": 100}, 0.0, fast=True)
    ps.record(False, "x", 0.0)
    assert ps.next_at == probes.FAST_PROBE
    ps.record(False, "x", probes.FAST_WINDOW + 1)  # a regular probe, past the window
    assert ps.next_at == probes.FAST_WINDOW + 11  # the regular schedule only, no fast probe any more


def test_success_threshold_counts_at_period_after_the_first_success():
    ps = ProbeState({"httpGet": {"port": 80}, "periodSeconds": 1, "successThreshold": 2}, 0.0, fast=True)
    assert ps.record(False, "x", 0.0)  # regular
    assert not ps.record(False, "x", 0.05)
    ps.record(True, "", 0.1)
    assert ps.result is None and ps.next_at == 1.1
    ps.record(True, "", 1.1)
    assert ps.result is True
