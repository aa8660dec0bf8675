"""The deploy client's rollout logic and rollback against a small fake Kubernetes API (behind KubeClient's interface)."""

from __future__ import annotations

import json

import pytest

from shipway.pipelines import kube


class FakeKube(kube.KubeClient):
    """Answers the few calls the deploy stage makes from an in-memory object table."""

    def __init__(self, objects: dict[str, dict]) -> None:
        super().__init__("http://fake")
        self.objects = objects
        self.calls: list[tuple[str, str, dict | None]] = []
        self.events: list[list[dict]] | None = None

    def _req(self, method, path, **kw):
        body = json.loads(kw["data"]) if kw.get("data") else None
        self.calls.append((method, path, body))
        if method == "GET":
            if path.endswith("/replicasets"):
                return {"items": [o for p, o in self.objects.items() if "/replicasets/" in p]}
            return self.objects[path]
        if method == "PATCH":
            obj = self.objects.setdefault(path, {"metadata": {}})
            obj.setdefault("spec", {}).update(body.get("spec", {}))
            return obj
        raise AssertionError(method)

    def watch(self, kind, namespace, name, resource_version, timeout):
        self.calls.append(("WATCH", name, {"resourceVersion": resource_version}))
        if self.events is None:
            raise kube.KubeError("watch: 405 not allowed")  # a server without watches: the client polls
        batch = self.events.pop(0) if self.events else []
        yield from batch


class WatchKube(FakeKube):
    """A fake that serves watches: ``events`` is a list of watch windows, each a list of events."""

    def __init__(self, objects, events):
        super().__init__(objects)
        self.events = events


def dep(gen=2, observed=2, replicas=2, updated=2, available=2, total=2, conditions=()):
    return {"metadata": {"name": "web", "uid": "u1", "generation": gen,
                         "annotations": {kube.REVISION: "2"}},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available,
                       "replicas": total, "conditions": list(conditions)}}


def test_rollout_state_like_kubectl():
    assert kube.rollout_state(dep())[0] == "done"
    assert kube.rollout_state(dep(observed=1))[0] == "progressing"
    assert kube.rollout_state(dep(updated=1))[0] == "progressing"
    assert kube.rollout_state(dep(total=3))[0] == "progressing"
    assert kube.rollout_state(dep(available=1))[0] == "progressing"
    failed = dep(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    assert kube.rollout_state(failed)[0] == "failed"


def test_rollback_uses_previous_revision_template_without_hash():
    def rs(name, rev, image):
        return {"metadata": {"name": name, "annotations": {kube.REVISION: str(rev)},
                             "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "u1"}]},
                "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
                                      "spec": {"containers": [{"name": "app", "image": image}]}}}}
    failed = dep()
    # The failed revision's template is on the Deployment; its revision annotation may lag behind.
    failed["metadata"]["annotations"] = {}
    failed["spec"]["template"] = {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "app:new"}]}}
    objs = {"/apis/apps/v1/namespaces/default/deployments/web": failed,
            "/apis/apps/v1/namespaces/default/replicasets/web-1": rs("web-1", 1, "app:old"),
            "/apis/apps/v1/namespaces/default/replicasets/web-2": rs("web-2", 2, "app:new")}
    client = FakeKube(objs)
    lines: list[str] = []
    assert kube.rollback(client, "default", "web", lines.append)
    method, path, body = [c for c in client.calls if c[0] == "PATCH"][-1]
    assert method == "PATCH" and path.endswith("/deployments/web")
    tmpl = body["spec"]["template"]
    assert tmpl["spec"]["containers"][0]["image"] == "app:old"
    assert "pod-template-hash" not in tmpl["metadata"]["labels"]


def test_wait_rollout_failure_and_set_image():
    objs = {"/apis/apps/v1/namespaces/default/deployments/web":
            dep(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])}
    with pytest.raises(kube.KubeError):
        kube.wait_rollout(FakeKube(objs), "default", "web", 5, lambda _l: None, lambda: False, interval=0.01)
    d = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x"},
                                                                            {"name": "side", "image": "y"}]}}}}
    assert kube.set_image(d, "reg/app:1", "app") == 1
    assert [c["image"] for c in d["spec"]["template"]["spec"]["containers"]] == ["reg/app:1", "y"]
    assert kube.set_image(d, "reg/app:2", None) == 2


def test_apply_is_server_side_apply():
    client = FakeKube({})
    sent = {}

    def capture(method, path, **kw):
        sent.update(method=method, path=path, **kw)
        return {}
    client._req = capture
    client.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns"}})
    assert sent["method"] == "PATCH" and sent["path"] == "/api/v1/namespaces/ns/services/web"
    assert sent["params"] == {"fieldManager": "shipway", "force": "true"}
    assert sent["headers"]["Content-Type"] == "application/apply-patch+yaml"


def _with_rv(d, rv):
    d["metadata"]["resourceVersion"] = str(rv)
    return d


def test_wait_rollout_follows_a_watch_without_polling():
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    windows = [[], [{"type": "MODIFIED", "object": _with_rv(dep(available=1), 11)}],
               [{"type": "MODIFIED", "object": _with_rv(dep(), 12)}]]
    client = WatchKube({path: _with_rv(dep(updated=1), 10)}, windows)
    lines: list[str] = []
    kube.wait_rollout(client, "default", "web", 5, lines.append, lambda: False)
    assert [c[0] for c in client.calls] == ["GET", "WATCH", "WATCH", "WATCH"]  # one GET, then events only
    assert [c[2]["resourceVersion"] for c in client.calls[1:]] == ["10", "10", "11"]  # resumes after each event
    assert lines == ["deployment/web: 1 of 2 updated replicas", "deployment/web: 1 of 2 updated replicas available",
                     "deployment/web: 2 replicas available"]


def test_wait_rollout_relists_when_the_watch_is_gone_and_fails_on_deletion():
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    listing = {"metadata": {"resourceVersion": "99"}, "items": [_with_rv(dep(), 12)]}
    client = WatchKube({path: _with_rv(dep(updated=1), 10), path.rsplit("/", 1)[0]: listing},
                       [[{"type": "ERROR", "object": {"kind": "Status", "code": 410}}]])
    kube.wait_rollout(client, "default", "web", 5, lambda _l: None, lambda: False)
    assert client.calls[-1][:2] == ("GET", path.rsplit("/", 1)[0])
    gone = WatchKube({path: _with_rv(dep(updated=1), 10)}, [[{"type": "DELETED", "object": dep()}]])
    with pytest.raises(kube.KubeError, match="deleted"):
        kube.wait_rollout(gone, "default", "web", 5, lambda _l: None, lambda: False)


def test_wait_rollout_polls_when_the_server_refuses_watches():
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    client = FakeKube({path: dep(updated=1)})
    calls = []

    def stop():
        calls.append(1)
        if len(calls) == 3:
            client.objects[path] = dep()  # the rollout completes between two polls
        return False
    kube.wait_rollout(client, "default", "web", 5, lambda _l: None, stop, interval=0.01)
    assert [c[0] for c in client.calls] == ["GET", "WATCH", "GET", "GET", "GET"]


def _kubeconfig(cluster: dict, user: dict, current: str = "c") -> str:
    import yaml
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": current,
                           "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
                           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]})


def test_kubeconfig_from_a_secret_gives_server_token_and_embedded_ca(monkeypatch):
    import base64
    from pathlib import Path
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")  # must not win over the CA
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    client = kube.KubeClient.from_kubeconfig(
        _kubeconfig({"server": "https://127.0.0.1:6443", "certificate-authority-data": ca}, {"token": "t0k"}),
        origin="project secret K")
    try:
        assert client.server == "https://127.0.0.1:6443"
        assert client.http.headers["Authorization"] == "Bearer t0k"
        assert Path(client.verify).read_bytes() == b"-----BEGIN CERTIFICATE-----\n"
    finally:
        client.close()
    assert not Path(client.verify).exists()  # the materialised CA is removed


@pytest.mark.parametrize("text, message", [
    ("a: [", "project secret K is not valid YAML"),
    ("- just a list", "project secret K is not a kubeconfig"),
    (_kubeconfig({"server": "https://x"}, {"token": "t"}, current="other"), "no context 'other' in project secret K"),
    (_kubeconfig({}, {"token": "t"}), "names no cluster with a server URL"),
    (_kubeconfig({"server": "https://x", "certificate-authority": "/etc/shadow"}, {}),
     "certificate-authority names a file; embed it as certificate-authority-data"),
    (_kubeconfig({"server": "https://x"}, {"client-key": "/root/key.pem"}), "client-key names a file"),
    (_kubeconfig({"server": "https://x"}, {"exec": {"command": "aws"}}), "user.exec is not supported"),
    (_kubeconfig({"server": "https://x", "certificate-authority-data": "not base64!"}, {}),
     "certificate-authority-data is not valid base64"),
])
def test_kubeconfig_secrets_that_cannot_be_used_say_why(text, message):
    with pytest.raises(kube.KubeError, match=message.replace("[", r"\[").replace(".", r"\.")):
        kube.KubeClient.from_kubeconfig(text, origin="project secret K")
