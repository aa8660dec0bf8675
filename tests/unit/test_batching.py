"""core/batching.py: leader/follower group commit."""

import threading
import time

import pytest

from shipway.core.batching import Batcher


def test_a_lone_caller_writes_at_once_and_concurrent_ones_share_writes():
    writes: list[list[int]] = []

    def write(items):
        time.sleep(0.01)  # long enough for the others to queue behind the first write
        writes.append(list(items))

    batcher = Batcher(write)
    batcher.submit(0)
    assert writes == [[0]]
    threads = [threading.Thread(target=batcher.submit, args=(i,)) for i in range(1, 21)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(i for w in writes for i in w) == list(range(21))  # each item written exactly once
    assert len(writes) < 21 and batcher.items == 21 and batcher.batches == len(writes)


def test_a_failed_batch_is_retried_item_by_item_and_only_the_bad_item_fails():
    written: list[int] = []

    def write(items):
        if 13 in items:
            raise ValueError("13 cannot be written")
        written.extend(items)

    batcher = Batcher(write, max_batch=8)
    gate = threading.Event()
    errors: dict[int, BaseException] = {}

    def slow_first(items):  # holds the first write so that the rest queue into one batch
        gate.wait(5)
        write(items)

    batcher._write_many = lambda items: slow_first(items) if 0 in items else write(items)
    batcher._write_one = lambda item: slow_first([item]) if item == 0 else write([item])

    def submit(i):
        try:
            batcher.submit(i)
        except ValueError as e:
            errors[i] = e

    threads = [threading.Thread(target=submit, args=(i,)) for i in (0, 11, 12, 13, 14)]
    threads[0].start()
    time.sleep(0.05)
    for t in threads[1:]:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join(10)
    assert sorted(written) == [0, 11, 12, 14]
    assert list(errors) == [13] and "13 cannot be written" in str(errors[13])


def test_the_leader_gets_its_own_error():
    batcher = Batcher(lambda items: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(RuntimeError, match="down"):
        batcher.submit(1)
    with pytest.raises(RuntimeError):  # not stuck: the next caller leads again and gets its own error
        batcher.submit(2)
