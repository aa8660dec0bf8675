"""The Deployment controller's sync: ReplicaSets per template, rolling updates, status.

Follows kubernetes/pkg/controller/deployment (sync.go, rolling.go,
recreate.go, progress.go): one ReplicaSet per pod-template hash, revisions,
history cleanup, RollingUpdate with maxSurge/maxUnavailable, Recreate, pause,
minReadySeconds (through the ReplicaSets' availableReplicas) and the progress
deadline. Returns the seconds after which it wants to run again (or None).
"""

from __future__ import annotations

import time

from shipway.core.errors import Conflict, NotFound
from shipway.orchestrator.objects import BY_KIND, REVISION, condition, controller_uid, deep, int_or_percent, \
    owner_ref, template_hash

DEPLOY, RS, POD = BY_KIND["Deployment"], BY_KIND["ReplicaSet"], BY_KIND["Pod"]
CHANGE_CAUSE = "kubernetes.io/change-cause"


def _rev(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _strip_hash(tpl: dict) -> dict:
    from shipway.orchestrator.resources import drop_nulls
    t = drop_nulls(deep(tpl))
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return t


def _limits(d: dict) -> tuple[int, int]:
    spec = d["spec"]
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    n = spec.get("replicas", 1)
    surge = int_or_percent(ru.get("maxSurge", "25%"), n, True)
    unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), n, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, n)


def _scale(res, rs: dict, replicas: int, owner: dict | None = None) -> dict:
    if rs["spec"].get("replicas") == replicas:
        return rs
    new = deep(rs)
    before = rs["spec"].get("replicas", 0)
    new["spec"]["replicas"] = replicas
    ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
    out = res.update(RS, ns, name, new)
    if owner is not None:
        way = "up" if replicas > before else "down"
        res.events.record(owner, "Normal", "ScalingReplicaSet",
                          f"Scaled {way} replica set {name} from {before} to {replicas}", "deployment-controller")
    return out


def sync_deployment(res, ns: str, name: str) -> float | None:
    try:
        d = res.get(DEPLOY, ns, name)
    except NotFound:
        return None
    if d["metadata"].get("deletionTimestamp"):
        return None
    spec = d["spec"]
    uid = d["metadata"]["uid"]
    all_rs = [rs for rs in res.list(RS, ns) if controller_uid(rs) == uid]
    want_tpl = _strip_hash(spec["template"])
    new_rs = next((rs for rs in all_rs if _strip_hash(rs["spec"]["template"]) == want_tpl), None)
    old_rss = sorted((rs for rs in all_rs if rs is not new_rs), key=lambda r: r["metadata"]["creationTimestamp"])
    max_rev = max((_rev(rs) for rs in all_rs), default=0)
    replicas = spec.get("replicas", 1)
    strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
    paused = bool(spec.get("paused"))
    progressed = False

    if not paused:
        if new_rs is None:
            new_rs = _create_rs(res, d, max_rev + 1, replicas if not any(r["spec"].get("replicas") for r in old_rss)
                                else 0)
            if new_rs is None:
                return 0.2
            progressed = True
        elif _rev(new_rs) < max_rev or _annotations_differ(d, new_rs):
            upd = deep(new_rs)
            ann = upd["metadata"].setdefault("annotations", {})
            if _rev(new_rs) < max_rev:
                ann[REVISION] = str(max_rev + 1)  # a rollback makes the old template the newest revision
            _copy_change_cause(d, ann)
            new_rs = res.update(RS, ns, upd["metadata"]["name"], upd)
    active_old = [r for r in old_rss if r["spec"].get("replicas") or (r.get("status") or {}).get("replicas")]
    if paused or new_rs is None:
        # Paused: scale only (proportionally is Kubernetes' way; here: the newest active RS takes the change).
        target = new_rs or (sorted(all_rs, key=_rev)[-1] if all_rs else None)
        if target is not None and not active_old:
            before = target["spec"].get("replicas")
            target = _scale(res, target, replicas, d)
            progressed |= before != replicas
    elif not active_old:
        before = new_rs["spec"].get("replicas")
        new_rs = _scale(res, new_rs, replicas, d)  # a plain scale: no new revision
        progressed |= before != replicas
    elif strategy == "Recreate":
        for r in active_old:
            _scale(res, r, 0, d)
        old_pods = [p for p in res.list(POD, ns) if controller_uid(p) in {r["metadata"]["uid"] for r in old_rss}]
        if not old_pods:
            before = new_rs["spec"].get("replicas")
            new_rs = _scale(res, new_rs, replicas, d)
            progressed |= before != replicas
    else:
        progressed |= _rolling(res, d, new_rs, active_old)
    _cleanup(res, d, [r for r in old_rss if r is not new_rs])
    return _update_status(res, d, new_rs, progressed, paused)


def _annotations_differ(d: dict, rs: dict) -> bool:
    want = (d["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
    return want is not None and (rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE) != want


def _copy_change_cause(d: dict, ann: dict) -> None:
    cause = (d["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
    if cause is not None:
        ann[CHANGE_CAUSE] = cause


def _create_rs(res, d: dict, revision: int, replicas: int) -> dict | None:
    m = d["metadata"]
    h = template_hash(d["spec"]["template"])
    tpl = deep(d["spec"]["template"])
    tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
    sel = deep(d["spec"]["selector"])
    sel.setdefault("matchLabels", {})["pod-template-hash"] = h
    if (d["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate" and replicas == 0:
        surge, _ = _limits(d)
        replicas = min(d["spec"].get("replicas", 1), surge)
    ann = {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": str(d["spec"].get("replicas", 1))}
    _copy_change_cause(d, ann)
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": f"{m['name']}-{h}", "namespace": m["namespace"],
                       "labels": dict(tpl["metadata"]["labels"]), "annotations": ann,
                       "ownerReferences": [owner_ref(d, DEPLOY)]},
          "spec": {"replicas": replicas, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                   "selector": sel, "template": tpl}}
    try:
        out = res.create(RS, m["namespace"], rs)
        res.events.record(d, "Normal", "ScalingReplicaSet",
                          f"Scaled up replica set {rs['metadata']['name']} from 0 to {replicas}", "deployment-controller")
        return out
    except Conflict:
        return None  # a same-named RS exists (hash collision or a racing sync): retry on the next pass


def _rolling(res, d: dict, new_rs: dict, old: list[dict]) -> bool:
    replicas = d["spec"].get("replicas", 1)
    surge, unavailable = _limits(d)
    progressed = False
    # reconcileNewReplicaSet
    all_count = new_rs["spec"].get("replicas", 0) + sum(r["spec"].get("replicas", 0) for r in old)
    cur_new = new_rs["spec"].get("replicas", 0)
    if cur_new > replicas:
        new_rs = _scale(res, new_rs, replicas, d)
        progressed = True
    elif cur_new < replicas:
        up = min(replicas + surge - all_count, replicas - cur_new)
        if up > 0:
            new_rs = _scale(res, new_rs, cur_new + up, d)
            progressed = True
    # reconcileOldReplicaSets
    all_count = new_rs["spec"].get("replicas", 0) + sum(r["spec"].get("replicas", 0) for r in old)
    min_available = replicas - unavailable
    new_unavailable = new_rs["spec"].get("replicas", 0) - (new_rs.get("status") or {}).get("availableReplicas", 0)
    max_down = all_count - min_available - max(new_unavailable, 0)
    if max_down <= 0:
        return progressed
    # First the old pods that are not available anyway.
    for i, r in enumerate(old):
        if max_down <= 0:
            break
        unhealthy = r["spec"].get("replicas", 0) - (r.get("status") or {}).get("availableReplicas", 0)
        n = min(max(unhealthy, 0), max_down)
        if n > 0:
            old[i] = _scale(res, r, r["spec"]["replicas"] - n, d)
            max_down -= n
            progressed = True
    available = (new_rs.get("status") or {}).get("availableReplicas", 0) + sum(
        min((r.get("status") or {}).get("availableReplicas", 0), r["spec"].get("replicas", 0)) for r in old)
    total_down = min(available - min_available, max_down)
    for r in old:  # oldest first
        if total_down <= 0:
            break
        n = min(r["spec"].get("replicas", 0), total_down)
        if n > 0:
            _scale(res, r, r["spec"]["replicas"] - n, d)
            total_down -= n
            progressed = True
    return progressed


def _cleanup(res, d: dict, old: list[dict]) -> None:
    limit = d["spec"].get("revisionHistoryLimit", 10)
    idle = sorted((r for r in old if not r["spec"].get("replicas") and not (r.get("status") or {}).get("replicas")),
                  key=_rev)
    for r in idle[:max(0, len(idle) - limit)]:
        try:
            res.delete(RS, r["metadata"]["namespace"], r["metadata"]["name"])
        except NotFound:
            pass


def _update_status(res, d: dict, new_rs: dict | None, progressed: bool, paused: bool) -> float | None:
    spec, uid = d["spec"], d["metadata"]["uid"]
    all_rs = [rs for rs in res.list(RS, d["metadata"]["namespace"]) if controller_uid(rs) == uid]
    st = lambda r, f: (r.get("status") or {}).get(f, 0)  # noqa: E731
    replicas = spec.get("replicas", 1)
    old_status = d.get("status") or {}
    status = deep(old_status)
    new_name = (new_rs or {}).get("metadata", {}).get("name")
    fresh = next((r for r in all_rs if r["metadata"]["name"] == new_name), None)
    status.update(observedGeneration=d["metadata"].get("generation", 1),
                  replicas=sum(st(r, "replicas") for r in all_rs),
                  updatedReplicas=st(fresh, "replicas") if fresh else 0,
                  readyReplicas=sum(st(r, "readyReplicas") for r in all_rs),
                  availableReplicas=sum(st(r, "availableReplicas") for r in all_rs))
    status["unavailableReplicas"] = max(replicas - status["availableReplicas"], 0)
    for f in ("readyReplicas", "availableReplicas", "unavailableReplicas", "updatedReplicas", "replicas"):
        if not status[f]:
            status.pop(f)
    g = lambda f: status.get(f, 0)  # noqa: E731
    _, unavailable = _limits(d)
    from shipway.orchestrator.objects import set_condition
    if g("availableReplicas") >= replicas - unavailable:
        set_condition(status, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.")
    prog = condition({"status": status}, "Progressing")
    complete = (g("updatedReplicas") == replicas and g("replicas") == replicas
                and g("availableReplicas") == replicas and fresh is not None)
    counts_changed = any(old_status.get(f, 0) != status.get(f, 0)
                         for f in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"))
    requeue = None
    if paused:
        set_condition(status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
    elif complete:
        set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                      f'ReplicaSet "{new_name}" has successfully progressed.')
    elif progressed or counts_changed or prog is None or prog.get("reason") in ("DeploymentPaused",
                                                                                 "NewReplicaSetAvailable"):
        msg = f'ReplicaSet "{new_name}" is progressing.'
        set_condition(status, "Progressing", "True", "ReplicaSetUpdated", msg)
        condition({"status": status}, "Progressing")["lastUpdateTime"] = _now()
        requeue = 1.0
    elif prog.get("reason") != "ProgressDeadlineExceeded":
        from shipway.orchestrator.objects import parse_time
        deadline = spec.get("progressDeadlineSeconds", 600)
        since = parse_time(prog.get("lastUpdateTime")) or time.time()
        if since + deadline <= time.time():
            set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                          f'ReplicaSet "{new_name}" has timed out progressing.')
        else:
            requeue = min(since + deadline - time.time() + 0.5, 5.0)
    if status != old_status:
        new = deep(d)
        new["status"] = status
        try:
            res.update(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"], new, subresource="status")
        except (Conflict, NotFound):
            return 0.1
    return requeue


def _now() -> str:
    from shipway.orchestrator.objects import now
    return now()
