"""Names, validation, instance ids and selection rules of the naming model."""

from __future__ import annotations

import pytest

from shipway.core.errors import BadRequest
from shipway.registry import model


def test_instance_id_round_trip():
    iid = model.instance_id("10.0.0.1", 80, "DEFAULT", "DEFAULT_GROUP", "orders")
    assert iid == "10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@orders"
    assert model.parse_instance_id(iid) == ("10.0.0.1", 80, "DEFAULT", "DEFAULT_GROUP", "orders")
    with pytest.raises(BadRequest) as e:
        model.parse_instance_id("nonsense")
    assert e.value.details["field"] == "instanceId"


@pytest.mark.parametrize("fn,value,field", [
    (model.check_ip, "1.2.3", "ip"), (model.check_ip, "a b", "ip"), (model.check_ip, 5, "ip"),
    (model.check_port, 0, "port"), (model.check_port, "80x", "port"), (model.check_port, True, "port"),
    (model.check_port, 1.5, "port"),
    (model.check_weight, -0.1, "weight"), (model.check_weight, 10001, "weight"), (model.check_weight, "nan", "weight"),
    (model.check_threshold, 1.5, "protectThreshold"),
])
def test_bad_values_name_the_field(fn, value, field):
    with pytest.raises(BadRequest) as e:
        fn(value)
    assert e.value.details["field"] == field


def test_good_values():
    assert model.check_ip("::1") == "::1"
    assert model.check_ip("db.internal") == "db.internal"
    assert model.check_port("8080") == 8080
    assert model.check_weight("2.5") == 2.5


def test_names():
    assert model.check_name("a.b-c:d_1", "service") == "a.b-c:d_1"
    for bad in ("", "a/b", "a#b", "a@@b", "x" * 129, None):
        with pytest.raises(BadRequest):
            model.check_name(bad, "service")
    assert model.split_service("g1@@svc", None) == ("g1", "svc")
    assert model.split_service("svc", None) == ("DEFAULT_GROUP", "svc")
    assert model.split_service("svc", "g2") == ("g2", "svc")


def test_metadata_forms():
    assert model.check_metadata('{"a": 1}') == {"a": "1"}
    assert model.check_metadata("a=1,b=x=y") == {"a": "1", "b": "x=y"}
    assert model.check_metadata(None) == {}
    with pytest.raises(BadRequest):
        model.check_metadata("[1]")
    with pytest.raises(BadRequest):
        model.check_metadata("novalue")


def test_beat_timing_overrides():
    assert model.beat_timing({"metadata": {}}) == (5.0, 15.0, 30.0)
    md = {model.HEART_BEAT_INTERVAL: "1000", model.HEART_BEAT_TIMEOUT: "3000", model.IP_DELETE_TIMEOUT: "bad"}
    assert model.beat_timing({"metadata": md}) == (1.0, 3.0, 30.0)


def test_check_mode():
    assert model.check_mode({"metadata": {}}) == "tcp"
    assert model.check_mode({"metadata": {"managed-by": "shipway-orchestrator"}}) == "none"
    assert model.check_mode({"metadata": {"managed-by": "shipway-orchestrator", model.HEALTH_CHECK: "http"}}) == "http"


def _inst(n, healthy=True, enabled=True, cluster="DEFAULT"):
    return {"instanceId": str(n), "healthy": healthy, "enabled": enabled, "clusterName": cluster, "weight": 1}


def test_select_and_protect_threshold():
    insts = [_inst(1), _inst(2, healthy=False), _inst(3, enabled=False), _inst(4, cluster="B")]
    assert model.select(insts, healthy_only=False) == (insts, False)
    assert [i["instanceId"] for i in model.select(insts, healthy_only=True)[0]] == ["1", "4"]
    assert [i["instanceId"] for i in model.select(insts, healthy_only=True, cluster="B")[0]] == ["4"]
    # 2 of 4 healthy = 0.5 ≤ 0.5: all enabled ones, and it says so
    hosts, reached = model.select(insts, healthy_only=True, protect_threshold=0.5)
    assert reached and [i["instanceId"] for i in hosts] == ["1", "2", "4"]
    assert model.select([], healthy_only=True, protect_threshold=0.9) == ([], False)
