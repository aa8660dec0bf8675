"""The held long-poll answer: registered before comparing, woken by a change, released exactly once."""

from __future__ import annotations

import threading

from shipway.config_center.longpoll import Entry, HeldAnswer, WatchHub
from shipway.config_center.paths import Value, md5_of

KEY = ("public", "G", "d")


def _hub_with(value: Value) -> tuple[WatchHub, Entry]:
    hub = WatchHub(lambda: None)
    entry = Entry(main=value)
    entry.ready.set()
    hub._entries[KEY] = entry  # as if its DataWatches were running
    return hub, entry


def test_held_answer_waits_for_the_change_then_renders_once():
    v1 = Value(content="a", md5=md5_of("a"), version=1)
    hub, entry = _hub_with(v1)
    hold = hub.hold({KEY: v1.md5})
    assert hold.changed == [] and hub.stats()["waiting"] == 1
    renders = []
    answer = HeldAnswer(hold, 10, lambda changed: renders.append(changed) or b"changed" if changed else b"")
    assert len(answer) == 1

    def publish():
        entry.main = Value(content="b", md5=md5_of("b"), version=2)
        hub._notify(KEY, entry)

    threading.Timer(0.05, publish).start()
    assert list(answer) == [b"changed"]
    assert list(answer) == [b"changed"]  # the WSGI server iterates again to count: same chunk, no new wait
    assert renders == [[KEY]] and hub.stats()["waiting"] == 0
    answer.close()  # idempotent
    assert hub.stats()["waiting"] == 0


def test_held_answer_times_out_empty_and_close_without_iterating_releases():
    v1 = Value(content="a", md5=md5_of("a"), version=1)
    hub, _ = _hub_with(v1)
    assert list(HeldAnswer(hub.hold({KEY: v1.md5}), 0.05, lambda c: b"x" if c else b"")) == [b""]
    answer = HeldAnswer(hub.hold({KEY: v1.md5}), 10, lambda c: b"")
    assert hub.stats()["waiting"] == 1
    answer.close()  # the client went away before the answer
    assert hub.stats()["waiting"] == 0


def test_a_stale_md5_is_reported_at_registration():
    v1 = Value(content="a", md5=md5_of("a"), version=1)
    hub, _ = _hub_with(v1)
    hold = hub.hold({KEY: "old"})
    assert hold.changed == [KEY]
    hold.release()
    assert hub.poll({KEY: v1.md5}, timeout=0) == []
