"""The watch event log: no event is skipped when writes are appended out of resourceVersion order."""

from __future__ import annotations

import threading

import pytest

from shipway.orchestrator.store import EventLog, Gone


def _obj(name: str) -> dict:
    return {"metadata": {"name": name}}


def test_a_watch_delivers_events_appended_out_of_resource_version_order():
    log = EventLog()
    log.append(10, "ADDED", "deployments", _obj("start"))
    got: list[tuple[int, str]] = []
    started = threading.Event()

    def watch():
        stream = log.since(10, "deployments", timeout=2.0)
        started.set()
        for rv, _etype, obj in stream:
            got.append((rv, obj["metadata"]["name"]))
            if len(got) == 3:
                return
    t = threading.Thread(target=watch)
    t.start()
    started.wait(2)
    # zxid 12 (another writer) is appended before zxid 11 (the Deployment's last status change) ...
    log.append(12, "MODIFIED", "deployments", _obj("b"))
    log.append(11, "MODIFIED", "deployments", _obj("a"))  # ... and must still reach the watch
    log.append(13, "MODIFIED", "pods", _obj("p"))
    log.append(14, "MODIFIED", "deployments", _obj("c"))
    t.join(5)
    assert sorted(got) == [(11, "a"), (12, "b"), (14, "c")]


def test_a_watch_starting_at_a_resource_version_gets_every_later_event_in_the_log():
    log = EventLog()
    for rv, name in ((5, "x"), (7, "z"), (6, "y")):
        log.append(rv, "MODIFIED", "deployments", _obj(name))
    got = [(rv, o["metadata"]["name"]) for rv, _, o in log.since(5, "deployments", timeout=0.05)]
    assert got == [(7, "z"), (6, "y")]  # append order; nothing after rv 5 is left out


def test_too_old_or_fallen_behind_is_gone():
    log = EventLog(size=3)
    for rv in range(10, 16):
        log.append(rv, "MODIFIED", "pods", _obj(str(rv)))
    with pytest.raises(Gone):
        list(log.since(3, "pods", timeout=0.01))
    stream = log.since(15, "pods", timeout=1.0)
    log.append(16, "MODIFIED", "pods", _obj("16"))
    assert next(stream)[0] == 16
    for rv in range(17, 25):  # the reader does not read while the log wraps around
        log.append(rv, "MODIFIED", "pods", _obj(str(rv)))
    with pytest.raises(Gone):
        next(stream)
