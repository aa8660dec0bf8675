"""Deployment and ReplicaSet controllers against an in-memory store, with a simulated node agent."""

from __future__ import annotations

import copy

import pytest

from shipway.orchestrator.deployment import sync_deployment
from shipway.orchestrator.objects import BY_KIND, REVISION, controller_uid, now, set_condition
from shipway.orchestrator.replicaset import collect_garbage, sync_replicaset
from shipway.orchestrator.resources import Resources

from .fakes import MemoryStore

DEPLOY, RS, POD = BY_KIND["Deployment"], BY_KIND["ReplicaSet"], BY_KIND["Pod"]


def deployment(replicas=4, image="img:1", **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}, **spec}}


@pytest.fixture
def res():
    r = Resources(MemoryStore())
    r.ensure_default_namespace()
    return r


def converge(res, *, ready=True, rounds=40, observe=None, ready_image=None):
    """Run controllers and a fake agent (pods become ready, deleted pods disappear) until stable."""
    for _ in range(rounds):
        for d in res.list(DEPLOY, "default"):
            sync_deployment(res, "default", d["metadata"]["name"])
        for rs in res.list(RS, "default"):
            sync_replicaset(res, "default", rs["metadata"]["name"])
        for p in res.list(POD, "default"):
            if p["metadata"].get("deletionTimestamp"):
                res.store.delete("pods", p)
                continue
            image = p["spec"]["containers"][0]["image"]
            want = ready and (ready_image is None or image == ready_image)
            cond = next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
            if want and not (cond and cond["status"] == "True"):
                p = copy.deepcopy(p)
                set_condition(p.setdefault("status", {}), "Ready", "True", "", "")
                p["status"]["phase"] = "Running"
                res.update(POD, "default", p["metadata"]["name"], p, subresource="status")
        for rs in res.list(RS, "default"):
            sync_replicaset(res, "default", rs["metadata"]["name"])
        if observe:
            observe(res)
    for d in res.list(DEPLOY, "default"):
        sync_deployment(res, "default", d["metadata"]["name"])


def pods(res):
    return [p for p in res.list(POD, "default") if not p["metadata"].get("deletionTimestamp")]


def test_deployment_creates_replicaset_and_pods(res):
    res.create(DEPLOY, "default", deployment(replicas=3))
    converge(res)
    rss = res.list(RS, "default")
    assert len(rss) == 1 and rss[0]["metadata"]["annotations"][REVISION] == "1"
    assert rss[0]["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
    assert len(pods(res)) == 3
    d = res.get(DEPLOY, "default", "web")
    st = d["status"]
    assert st["observedGeneration"] == d["metadata"]["generation"]
    assert st["availableReplicas"] == st["updatedReplicas"] == st["readyReplicas"] == 3
    conds = {c["type"]: c["reason"] for c in st["conditions"]}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_rolling_update_respects_surge_and_unavailable(res):
    res.create(DEPLOY, "default", deployment(replicas=4, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    converge(res)
    seen = []

    def observe(r):
        ps = pods(r)
        ready = [p for p in ps if any(c["type"] == "Ready" and c["status"] == "True"
                                      for c in p.get("status", {}).get("conditions", []))]
        seen.append((len(ps), len(ready)))

    d = res.get(DEPLOY, "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    res.update(DEPLOY, "default", "web", d)
    converge(res, observe=observe)
    assert max(total for total, _ in seen) <= 5
    assert min(ready for _, ready in seen) >= 4
    images = {p["spec"]["containers"][0]["image"] for p in pods(res)}
    assert images == {"img:2"} and len(pods(res)) == 4
    revs = sorted(int(rs["metadata"]["annotations"][REVISION]) for rs in res.list(RS, "default"))
    assert revs == [1, 2]


def test_failed_rollout_keeps_old_replicas_serving(res):
    res.create(DEPLOY, "default", deployment(replicas=4))
    converge(res)
    d = res.get(DEPLOY, "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "broken:1"
    res.update(DEPLOY, "default", "web", d)
    converge(res, ready_image="img:1")
    by_image = {}
    for p in pods(res):
        by_image.setdefault(p["spec"]["containers"][0]["image"], 0)
        by_image[p["spec"]["containers"][0]["image"]] += 1
    # 25 %: at most one old pod may go, at most one extra new one may exist.
    assert by_image.get("img:1", 0) >= 3
    assert sum(by_image.values()) <= 5


def test_progress_deadline_marks_progressing_false(res):
    res.create(DEPLOY, "default", deployment(replicas=1, progressDeadlineSeconds=1))
    converge(res, ready=False, rounds=2)
    d = res.get(DEPLOY, "default", "web")
    for c in d["status"]["conditions"]:
        if c["type"] == "Progressing":
            c["lastUpdateTime"] = "2000-01-01T00:00:00Z"
    res.update(DEPLOY, "default", "web", d, subresource="status")
    sync_deployment(res, "default", "web")
    cond = next(c for c in res.get(DEPLOY, "default", "web")["status"]["conditions"] if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_scaling_creates_no_revision(res):
    res.create(DEPLOY, "default", deployment(replicas=2))
    converge(res)
    d = res.get(DEPLOY, "default", "web")
    d["spec"]["replicas"] = 5
    res.update(DEPLOY, "default", "web", d)
    converge(res)
    assert len(res.list(RS, "default")) == 1 and len(pods(res)) == 5


def test_rollback_reuses_old_replicaset_with_a_new_revision(res):
    res.create(DEPLOY, "default", deployment(replicas=2))
    converge(res)
    first = res.list(RS, "default")[0]["metadata"]["name"]
    d = res.get(DEPLOY, "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    res.update(DEPLOY, "default", "web", d)
    converge(res)
    old_tpl = copy.deepcopy(res.get(RS, "default", first)["spec"]["template"])
    old_tpl["metadata"]["labels"].pop("pod-template-hash")
    old_tpl["metadata"]["creationTimestamp"] = None  # what kubectl sends back
    res.patch(DEPLOY, "default", "web", "application/json-patch+json",
              [{"op": "replace", "path": "/spec/template", "value": old_tpl}])
    converge(res)
    rss = {rs["metadata"]["name"]: rs for rs in res.list(RS, "default")}
    assert len(rss) == 2
    assert rss[first]["metadata"]["annotations"][REVISION] == "3"
    assert rss[first]["spec"]["replicas"] == 2


def test_recreate_removes_old_pods_before_new_ones(res):
    res.create(DEPLOY, "default", deployment(replicas=3, strategy={"type": "Recreate"}))
    converge(res)
    mixes = []
    d = res.get(DEPLOY, "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    res.update(DEPLOY, "default", "web", d)
    converge(res, observe=lambda r: mixes.append({p["spec"]["containers"][0]["image"] for p in
                                                  r.list(POD, "default")}))
    assert all(len(m) <= 1 for m in mixes)
    assert {p["spec"]["containers"][0]["image"] for p in pods(res)} == {"img:2"}


def test_paused_deployment_does_not_roll_out(res):
    res.create(DEPLOY, "default", deployment(replicas=2))
    converge(res)
    d = res.get(DEPLOY, "default", "web")
    d["spec"]["paused"] = True
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    res.update(DEPLOY, "default", "web", d)
    converge(res)
    assert len(res.list(RS, "default")) == 1
    cond = next(c for c in res.get(DEPLOY, "default", "web")["status"]["conditions"] if c["type"] == "Progressing")
    assert cond["reason"] == "DeploymentPaused"
    res.patch(DEPLOY, "default", "web", "application/merge-patch+json", {"spec": {"paused": False}})
    converge(res)
    assert {p["spec"]["containers"][0]["image"] for p in pods(res)} == {"img:2"}


def test_revision_history_limit_prunes_old_replicasets(res):
    res.create(DEPLOY, "default", deployment(replicas=1, revisionHistoryLimit=1))
    for i in range(2, 5):
        converge(res, rounds=10)
        d = res.get(DEPLOY, "default", "web")
        d["spec"]["template"]["spec"]["containers"][0]["image"] = f"img:{i}"
        res.update(DEPLOY, "default", "web", d)
    converge(res)
    assert len(res.list(RS, "default")) == 2  # the current one + 1 of history


def test_replicaset_deletes_unready_pods_first(res):
    res.create(DEPLOY, "default", deployment(replicas=3))
    converge(res)
    victim = pods(res)[0]
    victim["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    res.update(POD, "default", victim["metadata"]["name"], victim, subresource="status")
    rs = res.list(RS, "default")[0]
    rs["spec"]["replicas"] = 2
    res.update(RS, "default", rs["metadata"]["name"], rs)
    sync_replicaset(res, "default", rs["metadata"]["name"])
    deleting = [p["metadata"]["name"] for p in res.list(POD, "default") if p["metadata"].get("deletionTimestamp")]
    assert deleting == [victim["metadata"]["name"]]


def test_garbage_collector_removes_orphans(res):
    res.create(DEPLOY, "default", deployment(replicas=2))
    converge(res)
    res.delete(DEPLOY, "default", "web")
    collect_garbage(res)
    assert res.list(RS, "default") == []
    collect_garbage(res)
    assert all(p["metadata"].get("deletionTimestamp") for p in res.list(POD, "default"))
    assert all(controller_uid(p) for p in res.list(POD, "default"))
    _ = now


def test_terminating_old_pods_do_not_gate_rollout_completion(res):
    """As in Kubernetes, a pod with a deletionTimestamp is no longer counted: the rollout completes while the
    old pods are still draining (the agent removes them later)."""
    res.create(DEPLOY, "default", deployment(replicas=2, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}}))
    converge(res)
    d = res.get(DEPLOY, "default", "web")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    res.update(DEPLOY, "default", "web", d)
    for _ in range(10):  # controllers and "ready" new pods, but deleted pods are never removed
        sync_deployment(res, "default", "web")
        for rs in res.list(RS, "default"):
            sync_replicaset(res, "default", rs["metadata"]["name"])
        for p in res.list(POD, "default"):
            cond = next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
            if not p["metadata"].get("deletionTimestamp") and not cond:
                p = copy.deepcopy(p)
                set_condition(p.setdefault("status", {}), "Ready", "True", "", "")
                p["status"]["phase"] = "Running"
                res.update(POD, "default", p["metadata"]["name"], p, subresource="status")
    terminating = [p for p in res.list(POD, "default") if p["metadata"].get("deletionTimestamp")]
    assert len(terminating) == 2 and {p["spec"]["containers"][0]["image"] for p in terminating} == {"img:1"}
    st = res.get(DEPLOY, "default", "web")["status"]
    assert (st["replicas"], st["updatedReplicas"], st["availableReplicas"]) == (2, 2, 2)
    assert next(c for c in st["conditions"] if c["type"] == "Progressing")["reason"] == "NewReplicaSetAvailable"
