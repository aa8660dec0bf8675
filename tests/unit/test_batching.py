"""core/batching.py: leader/follower group commit."""

import threading

import pytest

from shipway.core.batching import Batcher
from support.waiting import wait_for


def _held_batcher(write, **kw):
    """A batcher whose write of item 0 waits for ``gate``: the items submitted meanwhile queue up."""
    gate = threading.Event()

    def gated(items):
        if 0 in items:
            assert gate.wait(10)
        write(items)

    batcher = Batcher(gated, **kw)
    return batcher, gate


def _submit_all(batcher, gate, items, errors):
    def submit(i):
        try:
            batcher.submit(i)
        except Exception as e:  # noqa: BLE001 - collected for the assertions
            errors[i] = e

    first = threading.Thread(target=submit, args=(items[0],))
    first.start()
    wait_for(lambda: batcher._busy, 5, message="the first caller leads")
    rest = [threading.Thread(target=submit, args=(i,)) for i in items[1:]]
    for t in rest:
        t.start()
    wait_for(lambda: len(batcher._queue) == len(rest), 5, message="the others queue behind it")
    gate.set()
    for t in [first, *rest]:
        t.join(10)


def test_a_lone_caller_writes_at_once_and_callers_that_queue_share_one_write():
    writes: list[list[int]] = []
    batcher = Batcher(lambda items: writes.append(list(items)))
    batcher.submit(7)
    assert writes == [[7]]

    writes.clear()
    held, gate = _held_batcher(lambda items: writes.append(list(items)))
    errors: dict = {}
    _submit_all(held, gate, list(range(21)), errors)
    assert not errors
    assert writes[0] == [0] and sorted(writes[1]) == list(range(1, 21)) and len(writes) == 2
    assert held.items == 21 and held.batches == 2


def test_a_failed_batch_is_retried_item_by_item_and_only_the_bad_item_fails():
    written: list[int] = []

    def write(items):
        if 13 in items:
            raise ValueError("13 cannot be written")
        written.extend(items)

    batcher, gate = _held_batcher(write)
    errors: dict = {}
    _submit_all(batcher, gate, [0, 11, 12, 13, 14], errors)
    assert sorted(written) == [0, 11, 12, 14]
    assert list(errors) == [13] and "13 cannot be written" in str(errors[13])


def test_the_leader_gets_its_own_error_and_the_batcher_is_not_stuck():
    def down(items):
        raise RuntimeError("down")

    batcher = Batcher(down)
    with pytest.raises(RuntimeError, match="down"):
        batcher.submit(1)
    with pytest.raises(RuntimeError):  # the next caller leads again and gets its own error
        batcher.submit(2)


GEVENT_SCRIPT = r'''
from gevent import monkey; monkey.patch_all()
import json
import gevent
from shipway.core.batching import Batcher

blocking_sleep = monkey.get_original("time", "sleep")


def run(with_company):
    """8 writers whose submit follows a wait on the event loop (a ZooKeeper write's reply); the write blocks
    the loop, as SQLite's does."""
    sizes, on_the_way = [], [0]
    batcher = Batcher(lambda items: (sizes.append(len(items)), blocking_sleep(0.002)),
                      write_one=lambda item: (sizes.append(1), blocking_sleep(0.002)),
                      company=(lambda: on_the_way[0]) if with_company else None)

    def writer(i):
        for n in range(10):
            on_the_way[0] += 1
            try:
                gevent.sleep(0.001)  # the reply of the ZooKeeper write
                batcher.submit((i, n))
            finally:
                on_the_way[0] -= 1
    gevent.joinall([gevent.spawn(writer, i) for i in range(8)])
    return {"items": sum(sizes), "writes": len(sizes)}


print(json.dumps({"alone": run(False), "company": run(True)}))
'''


def test_under_gevent_a_leader_waits_a_loop_turn_for_writers_on_their_way(tmp_path):
    """A blocking write never yields under gevent: without ``company`` every batch holds one item; with it the
    leader lets the loop turn and the writers whose replies are in finish their way into its batch."""
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["alone"]["items"] == out["company"]["items"] == 80
    assert out["company"]["writes"] <= out["alone"]["writes"] / 2, out
