"""The host znode names: the instance in the name, references for large ones (no ZooKeeper)."""

from __future__ import annotations

from shipway.registry import layout, model
from shipway.registry.model import Source

KEY = ("public", "DEFAULT_GROUP", "orders")


def _inst(**kw):
    return model.make_instance("public", "DEFAULT_GROUP", "orders", kw.pop("ip", "10.0.0.1"), 8080,
                               source=Source.SDK, **kw)


def test_name_carries_the_whole_record():
    inst = _inst(weight=2.5, metadata={"version": "2", "zone": "eu/west 1", "ünï": "cödé!"}, healthy=False)
    name = layout.encode(inst)
    assert "/" not in name and name.count("!") == 1 and name.isascii()
    assert name.startswith("10.0.0.1#8080#DEFAULT!")
    assert name.startswith(layout.prefix(inst["instanceId"]))
    assert layout.decode(name, KEY) == inst
    assert layout.name_id(name, KEY) == inst["instanceId"]
    assert not layout.is_reference(name)


def test_every_field_change_changes_the_name():
    inst = _inst()
    names = {layout.encode(inst)}
    for change in ({"weight": 3.0}, {"enabled": False}, {"healthy": False}, {"metadata": {"a": "b"}}):
        names.add(layout.encode({**inst, **change}))
    assert len(names) == 5


def test_ipv6_and_integer_weights_round_trip():
    inst = _inst(ip="::1", weight=7)
    assert layout.decode(layout.encode(inst), KEY) == inst


def test_large_record_gets_a_reference_name_that_follows_changes():
    inst = _inst(metadata={"blob": "x" * 2000})
    name = layout.encode(inst)
    assert layout.is_reference(name) and len(name) < 200
    assert layout.decode(name, KEY) is None
    assert layout.name_id(name, KEY) == inst["instanceId"]
    assert layout.encode({**inst, "weight": 2.0}) != name
    assert layout.encode(dict(reversed(list(inst.items())))) == name  # key order does not matter


def test_foreign_names_are_ignored():
    assert layout.decode("garbage", KEY) is None
    assert layout.decode("no-hash!w=1", KEY) is None
    assert layout.decode("1.2.3.4#80#DEFAULT!w=x", KEY) is None
