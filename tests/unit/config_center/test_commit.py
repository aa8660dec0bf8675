"""Batched publishes (config_center/commit.py) against a scripted ZooKeeper client: when batches go, and
what a failure of a batch means for each publish in it. The real ZooKeeper cases (a refused ``multi``, a
record SQL refuses) are in tests/integration/config_center/test_durability.py."""

from __future__ import annotations

import threading

import pytest
from kazoo.exceptions import ConnectionLoss
from sqlalchemy import create_engine
from support.waiting import wait_for

from shipway.config_center import commit
from shipway.config_center.commit import Publish, PublishBatches
from shipway.config_center.paths import Value, md5_of
from shipway.config_center.records import Record


class ScriptedKazoo:
    """Records every write; the first one can be held until ``release`` is set; ``fail`` is raised by commits."""

    def __init__(self, *, hold_first: bool = False, fail: BaseException | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.hold = threading.Event() if hold_first else None
        self.release = threading.Event()
        self.fail = fail

    def _call(self, kind: str, paths: list[str]) -> None:
        self.calls.append((kind, paths))
        if self.hold is not None and not self.hold.is_set():
            self.hold.set()
            assert self.release.wait(10)

    def set(self, path, data, version):
        self._call("set", [path])
        return type("Stat", (), {"version": version + 1})()

    def create(self, path, data, makepath=False):
        self._call("create", [path])

    def transaction(self):
        kazoo, ops = self, []

        class Txn:
            def set_data(self, path, data, version):
                ops.append((path, version))

            def create(self, path, data):
                ops.append((path, None))

            def commit(self):
                kazoo._call("multi", [p for p, _ in ops])
                if kazoo.fail is not None:
                    raise kazoo.fail
                return [type("Stat", (), {"version": v + 1})() for _, v in ops]
        return Txn()


class Records:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def write(self, records):
        self.batches.append([r.key[2] for r in records])

    def write_alone(self, record):
        self.write([record])


def _batches(kazoo) -> PublishBatches:
    batches = PublishBatches(create_engine("sqlite://"), lambda conn, key, value: None, lambda: kazoo)
    batches.records = Records()
    return batches


def _publish(name: str, size: int = 10) -> Publish:
    content = "x" * size
    value = Value(content=content, md5=md5_of(content), version=2)
    return Publish(f"/c/{name}", 1, Record(("public", "G", name), "updated", value, "t", "", "publish"))


def _write_together(batches, publishes) -> None:
    with batches._lock:
        batches._at_zookeeper += 1
    batches._lead(publishes)


def test_a_lone_publish_goes_at_once_as_a_plain_write():
    kazoo = ScriptedKazoo()
    batches = _batches(kazoo)
    p = _publish("a")
    batches.write(p)
    assert kazoo.calls == [("set", ["/c/a"])] and p.new_version == 2 and p.zk_error is None
    assert batches.records.batches == [["a"]]


def test_a_lost_connection_fails_every_publish_of_the_batch_and_writes_none_again():
    kazoo = ScriptedKazoo(fail=ConnectionLoss())
    batches = _batches(kazoo)
    ps = [_publish(n) for n in "abc"]
    _write_together(batches, ps)
    assert kazoo.calls == [("multi", ["/c/a", "/c/b", "/c/c"])]  # not retried alone: it may have landed
    assert all(isinstance(p.zk_error, ConnectionLoss) for p in ps)
    assert batches.records.batches == []  # nothing recorded: each publish records its version as undecided


def test_a_second_batch_goes_while_one_is_at_zookeeper_only_once_enough_publishes_wait():
    kazoo = ScriptedKazoo(hold_first=True)
    batches = _batches(kazoo)
    names = [f"p{i}" for i in range(1 + commit.SECOND_BATCH_AT)]
    threads = [threading.Thread(target=batches.write, args=(_publish(n),)) for n in names]
    threads[0].start()
    assert kazoo.hold.wait(10)  # the first publish is at ZooKeeper, held there
    for t in threads[1:-1]:
        t.start()
    wait_for(lambda: len(batches._queue) == commit.SECOND_BATCH_AT - 1, interval=0.005, message="3 waiting")
    assert len(kazoo.calls) == 1  # three waiting: not yet worth a batch of its own
    threads[-1].start()  # the fourth: they go together
    wait_for(lambda: len(kazoo.calls) == 2, interval=0.005, message="the second batch")
    kazoo.release.set()
    for t in threads:
        t.join(10)
    assert kazoo.calls[0] == ("set", ["/c/p0"])
    assert kazoo.calls[1][0] == "multi" and sorted(kazoo.calls[1][1]) == [f"/c/{n}" for n in names[1:]]
    assert sorted(sum(batches.records.batches, [])) == names


@pytest.mark.parametrize("sizes, expected", [
    ([10] * 70, commit.MAX_BATCH),                       # at most MAX_BATCH publishes
    ([300_000, 300_000, 10], 1),                         # two large values do not share a multi
    ([commit.MAX_BATCH_BYTES + 1, 10], 1),               # a value over the limit still goes (alone)
    ([100_000] * 3, 3),
])
def test_a_batch_stays_within_zookeepers_request_size(sizes, expected):
    assert commit._batch_size([_publish(str(i), size) for i, size in enumerate(sizes)]) == expected


def test_no_zookeeper_client_fails_the_publish():
    from shipway.core.errors import Unavailable

    def no_client():
        raise Unavailable("ZooKeeper is not connected")
    batches = PublishBatches(create_engine("sqlite://"), lambda conn, key, value: None, no_client)
    batches.records = Records()
    lone, together = _publish("a"), [_publish(n) for n in "bc"]
    batches.write(lone)
    _write_together(batches, together)
    assert all(isinstance(p.zk_error, Unavailable) and not p.recorded for p in [lone, *together])
    assert batches.records.batches == []


def test_an_unexpected_error_of_a_leader_fails_every_publish_of_its_batch(monkeypatch):
    batches = _batches(ScriptedKazoo())
    ps = [_publish(n) for n in "abc"]

    def broken(batch):
        batch[0].new_version = 2  # the first got its ZooKeeper write; then something unexpected happened
        raise RuntimeError("a bug")
    monkeypatch.setattr(batches, "_write_zk", broken)
    _write_together(batches, ps)
    assert isinstance(ps[0].sql_error, RuntimeError)  # in ZooKeeper, not recorded: the publish answers 503
    assert all(isinstance(p.zk_error, RuntimeError) for p in ps[1:])
    assert not any(p.recorded for p in ps)
