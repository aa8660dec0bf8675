"""Patch types, validation with field paths, selectors, the work queue."""

from __future__ import annotations

import time

from shipway.orchestrator import patch
from shipway.orchestrator.objects import BY_KIND, field_query_matches, int_or_percent, label_query_matches, \
    parse_label_query, selector_matches, template_hash
from shipway.orchestrator.validation import validate
from shipway.orchestrator.workqueue import WorkQueue

DEPLOY = BY_KIND["Deployment"]


def test_strategic_merge_by_merge_keys_and_directives():
    live = {"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"},
                                                                      {"name": "B", "value": "2"}]},
                                    {"name": "b", "image": "y"}]}}
    p = {"spec": {"containers": [{"name": "a", "image": "x2", "env": [{"name": "B", "$patch": "delete"}]},
                                 {"name": "c", "image": "z"}],
                  "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    out = patch.strategic_merge(live, p)
    cs = out["spec"]["containers"]
    assert [c["name"] for c in cs] == ["a", "b", "c"]
    assert cs[0]["image"] == "x2" and cs[0]["env"] == [{"name": "A", "value": "1"}]
    assert patch.strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}}) == {"a": {"d": 3}}
    assert patch.strategic_merge({"a": 1, "b": 2}, {"b": None}) == {"a": 1}
    assert patch.strategic_merge({"args": ["x", "y"]}, {"$deleteFromPrimitiveList/args": ["x"]}) == {"args": ["y"]}
    assert patch.strategic_merge({"s": {"a": 1, "b": 2}}, {"s": {"$retainKeys": ["a"], "a": 5}}) == {"s": {"a": 5}}


def test_json_patch_and_merge_patch():
    doc = {"spec": {"template": {"x": 1}, "list": [1, 2]}}
    out = patch.json_patch(doc, [{"op": "replace", "path": "/spec/template", "value": {"y": 2}},
                                 {"op": "add", "path": "/spec/list/-", "value": 3},
                                 {"op": "remove", "path": "/spec/list/0"}])
    assert out == {"spec": {"template": {"y": 2}, "list": [2, 3]}}
    assert patch.merge_patch({"a": {"b": 1}, "c": 2}, {"a": {"b": None, "d": 1}, "c": 3}) == {"a": {"d": 1}, "c": 3}


def test_server_side_apply_prunes_fields_dropped_by_the_same_manager():
    live = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 3}}
    prev = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    applied = {"metadata": {"labels": {"a": "1"}}}
    out = patch.server_side_apply(live, applied, prev)
    assert out["metadata"]["labels"] == {"a": "1"} and out["spec"]["replicas"] == 3


def test_validation_reports_every_error_with_paths():
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
           "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "", "foo": 1,
                                                          "ports": [{"containerPort": 99999}]}]}},
                    "strategy": {"type": "Sideways"}}}
    paths = {e["path"] for e in validate(bad, DEPLOY)}
    assert {"metadata.name", "spec.replicas", "spec.template.metadata.labels",
            "spec.template.spec.containers[0].foo", "spec.template.spec.containers[0].image",
            "spec.template.spec.containers[0].ports[0].containerPort", "spec.strategy.type"} <= paths
    assert validate({"metadata": {"name": "x"}, "spec": {"replicas": "three"}}, DEPLOY)[0]["path"] == "spec.replicas"


def test_selectors():
    assert selector_matches({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not selector_matches({}, {"a": "1"})
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"})
    reqs = parse_label_query("app=web,tier!=db,env in (a,b),!legacy")
    assert label_query_matches(reqs, {"app": "web", "env": "a"})
    assert not label_query_matches(reqs, {"app": "web", "env": "a", "legacy": "1"})
    assert field_query_matches("metadata.name=x", {"metadata": {"name": "x"}})
    assert not field_query_matches("metadata.name!=x", {"metadata": {"name": "x"}})


def test_int_or_percent_rounding_and_template_hash():
    assert int_or_percent("25%", 5, True) == 2 and int_or_percent("25%", 5, False) == 1
    t = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    t2 = {"metadata": {"labels": {"a": "1", "pod-template-hash": "zz"}}, "spec": t["spec"]}
    assert template_hash(t) == template_hash(t2) and len(template_hash(t)) == 10


def test_work_queue_dedupes_and_backs_off():
    q = WorkQueue(base_delay=0.05)
    q.add("a")
    q.add("a")
    assert len(q) == 1
    k = q.get(timeout=0.1)
    q.add("a")  # while processing: processed again afterwards
    assert q.get(timeout=0.05) is None
    q.done(k)
    assert q.get(timeout=0.1) == "a"
    q.done("a")
    t = time.monotonic()
    q.requeue("a")
    q.requeue("a")  # second failure: longer delay, but one entry
    assert q.get(timeout=1) == "a" and time.monotonic() - t >= 0.04
