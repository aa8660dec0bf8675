"""Each forge with its real fixture: signature ok/bad/missing, push, tag, delete, duplicate, filters."""

from __future__ import annotations

import json

import pytest

from unit.webhook.conftest import SECRET, fixture_bytes, hexmac

# forge, fixture, event header value
PUSHES = [
    ("github", "github-push.json", "push"),
    ("gitlab", "gitlab-push.json", "Push Hook"),
    ("gitea", "gitea-push.json", "push"),
    ("gogs", "gitea-push.json", "push"),
    ("bitbucket", "bitbucket-push.json", "repo:push"),
    ("generic", "generic-push.json", "push"),
]
EXPECTED = {
    "github": ("refs/heads/main", "366701fde727cb7a9e7f21eb88264f59f6f9b89c", "woodpecker-ci/woodpecker"),
    "gitlab": ("refs/heads/main", "16862e368d8ab812e48833b741dad720d6e2cb7f", None),
    "gitea": ("refs/heads/main", "29be01c073851cf0db0c6a466e396b725a670453", None),
    "gogs": ("refs/heads/main", "29be01c073851cf0db0c6a466e396b725a670453", None),
    "bitbucket": ("refs/heads/main", "c4b2b7914156a878aa7c9da452a09fb50c2091b2", "team/demo"),
    "generic": ("refs/heads/main", "c4b2b7914156a878aa7c9da452a09fb50c2091b2", "team/demo"),
}


@pytest.mark.parametrize("forge,fixture,event", PUSHES)
def test_signed_push_queues_one_run(send, pipelines, deliveries, forge, fixture, event):
    r = send(forge, fixture_bytes(fixture), event, delivery="d-1")
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["status"] == "queued" and body["run_url"] == "/runs/run-1" and r.headers["Location"] == "/runs/run-1"
    [call] = pipelines.calls
    ev = call["event"]
    ref, sha, repo = EXPECTED[forge]
    assert (ev.forge, ev.kind, ev.ref, ev.branch, ev.commit) == (forge, "push", ref, "main", sha)
    assert repo is None or ev.repo_name == repo
    assert call["trigger"] == "push" and call["project"] == "demo"
    assert call["idempotency_key"] == f"webhook:{forge}:demo:d-1"
    assert ev.delivery_id == "d-1" and ev.message
    [rec] = deliveries.list("demo")
    assert rec["status"] == "queued" and rec["run_ids"] == ["run-1"] and rec["forge"] == forge


@pytest.mark.parametrize("forge,fixture,event", PUSHES)
def test_duplicate_delivery_starts_one_run(send, pipelines, forge, fixture, event):
    first = send(forge, fixture_bytes(fixture), event, delivery="same-id").get_json()
    second = send(forge, fixture_bytes(fixture), event, delivery="same-id")
    assert second.status_code == 202
    assert second.get_json()["status"] == "duplicate"
    assert second.get_json()["run_url"] == first["run_url"]
    assert len(pipelines.runs) == 1


@pytest.mark.parametrize("forge,fixture,event", PUSHES)
def test_missing_signature_is_401_and_no_run(send, pipelines, deliveries, forge, fixture, event):
    r = send(forge, fixture_bytes(fixture), event, sign=False)
    assert r.status_code == 401 and r.get_json()["error"] == "unauthorized"
    assert pipelines.calls == []
    assert deliveries.list("demo")[0]["status"] == "rejected"


@pytest.mark.parametrize("forge,fixture,event", PUSHES)
def test_wrong_secret_is_401(send, pipelines, forge, fixture, event):
    r = send(forge, fixture_bytes(fixture), event, secret="not-the-secret-at-all")
    assert r.status_code == 401 and pipelines.calls == []
    assert SECRET not in r.get_data(as_text=True)


@pytest.mark.parametrize("forge,fixture,event", [p for p in PUSHES if p[0] != "gitlab"])
def test_altered_body_is_401(send, pipelines, forge, fixture, event):
    body = fixture_bytes(fixture)
    headers = {k: v for k, v in __import__("unit.webhook.conftest", fromlist=["x"])
               .signed_headers(forge, body).items()}
    tampered = body.replace(b"main", b"mainx", 1)
    r = send(forge, tampered, event, sign=False, headers=headers)
    assert r.status_code == 401 and pipelines.calls == []


@pytest.mark.parametrize("forge,header", [("gitea", "X-Gitea-Signature"), ("gogs", "X-Gogs-Signature")])
def test_gitea_empty_signature_means_unsigned(send, pipelines, forge, header):
    r = send(forge, fixture_bytes("gitea-push.json"), "push", sign=False, headers={header: ""})
    assert r.status_code == 401 and "unsigned" in r.get_json()["message"] and pipelines.calls == []


def test_gitea_signature_is_bare_hex_not_prefixed(send, pipelines):
    body = fixture_bytes("gitea-push.json")
    r = send("gitea", body, "push", sign=False, headers={"X-Gitea-Signature": "sha256=" + hexmac(body)})
    assert r.status_code == 401


def test_github_ping_answered_without_run(send, pipelines, deliveries):
    r = send("github", {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": {"full_name": "a/b"}},
             "ping")
    assert r.status_code == 200 and r.get_json()["status"] == "pong" and pipelines.calls == []
    assert deliveries.list("demo")[0]["kind"] == "ping"


def test_bitbucket_and_generic_ping(send, pipelines):
    assert send("bitbucket", {"repository": {"full_name": "team/demo"}}, "diagnostics:ping").status_code == 200
    assert send("generic", {}, "ping").status_code == 200
    assert pipelines.calls == []


def test_github_tag_push(send, pipelines):
    r = send("github", fixture_bytes("github-tag-push.json"), "push")
    assert r.status_code == 202
    ev = pipelines.events[0]
    assert (ev.kind, ev.tag, ev.branch, ev.commit) == ("tag", "the-tag-v1", None,
                                                         "67012991d6c69b1c58378346fca366b864d8d1a1")
    assert pipelines.calls[0]["trigger"] == "tag"


def test_gitlab_annotated_tag_builds_checkout_sha(send, pipelines):
    payload = json.loads(fixture_bytes("gitlab-tag-push.json"))
    assert payload["after"] != payload["checkout_sha"]
    r = send("gitlab", fixture_bytes("gitlab-tag-push.json"), "Tag Push Hook")
    assert r.status_code == 202
    ev = pipelines.events[0]
    assert ev.kind == "tag" and ev.tag == "v22" and ev.commit == payload["checkout_sha"]


def test_gitlab_idempotency_key_header_preferred(send, pipelines):
    body = fixture_bytes("gitlab-push.json")
    send("gitlab", body, "Push Hook", delivery="uuid-1", headers={"Idempotency-Key": "idem-1"})
    r = send("gitlab", body, "Push Hook", delivery="uuid-2", headers={"Idempotency-Key": "idem-1"})
    assert r.get_json()["status"] == "duplicate" and len(pipelines.runs) == 1


def test_github_branch_delete_no_run(send, pipelines, deliveries):
    r = send("github", fixture_bytes("github-branch-delete.json"), "push")
    assert r.status_code == 202 and r.get_json()["status"] == "ignored" and pipelines.calls == []
    rec = deliveries.list("demo")[0]
    assert rec["kind"] == "delete" and rec["status"] == "ignored" and rec["ref"] == "refs/heads/feature-branch"


def test_gitlab_delete_no_run(send, pipelines):
    payload = json.loads(fixture_bytes("gitlab-push.json"))
    payload.update(after="0" * 40, checkout_sha=None, commits=[], total_commits_count=0)
    r = send("gitlab", payload, "Push Hook")
    assert r.status_code == 202 and r.get_json()["status"] == "ignored" and pipelines.calls == []


@pytest.mark.parametrize("forge", ["gitea", "gogs"])
def test_gitea_delete_event_and_zero_push_no_run(send, pipelines, forge):
    r = send(forge, {"ref": "feature", "ref_type": "branch", "repository": {"full_name": "a/b"}}, "delete")
    assert r.status_code == 202 and r.get_json()["status"] == "ignored"
    payload = json.loads(fixture_bytes("gitea-push.json"))
    payload.update(after="0" * 40, commits=[], head_commit=None)
    assert send(forge, payload, "push").get_json()["status"] == "ignored"
    assert pipelines.calls == []


def test_bitbucket_closed_branch_no_run(send, pipelines):
    payload = json.loads(fixture_bytes("bitbucket-push.json"))
    payload["push"]["changes"][0].update(new=None, closed=True)
    r = send("bitbucket", payload, "repo:push")
    assert r.status_code == 202 and r.get_json()["status"] == "ignored" and pipelines.calls == []


def test_bitbucket_several_changes_one_run_each(send, pipelines):
    payload = json.loads(fixture_bytes("bitbucket-push.json"))
    tag = json.loads(json.dumps(payload["push"]["changes"][0]))
    tag.update(old=None, created=True)
    tag["new"].update(type="tag", name="v1.0")
    payload["push"]["changes"].append(tag)
    r = send("bitbucket", payload, "repo:push", delivery="multi")
    assert r.status_code == 202 and len(r.get_json()["runs"]) == 2
    assert [e.kind for e in pipelines.events] == ["push", "tag"]
    again = send("bitbucket", payload, "repo:push", delivery="multi")
    assert again.get_json()["status"] == "duplicate" and len(pipelines.runs) == 2


def test_changed_paths_passed(send, pipelines):
    send("github", fixture_bytes("github-push.json"), "push")
    send("gitea", fixture_bytes("gitea-push.json"), "push")
    send("generic", fixture_bytes("generic-push.json"), "push")
    gh, gt, gen = pipelines.events
    assert "pipeline/shared/replace_secrets.go" in gh.changed_paths and gh.paths_complete
    assert gt.changed_paths and gt.paths_complete
    assert gen.changed_paths == ("src/app.py", "deploy/service.yaml") and gen.paths_complete


@pytest.mark.parametrize("forge,event", [("github", "issues"), ("gitlab", "Merge Request Hook"),
                                         ("gitea", "pull_request"), ("bitbucket", "pullrequest:created"),
                                         ("generic", "deploy")])
def test_unknown_event_ignored(send, pipelines, deliveries, forge, event):
    r = send(forge, {"action": "opened"}, event)
    assert r.status_code == 202 and r.get_json()["status"] == "ignored" and pipelines.calls == []
    assert deliveries.list("demo")[0]["status"] == "ignored"


def test_delivery_id_falls_back_to_body_hash(send, pipelines):
    body = fixture_bytes("generic-push.json")
    assert send("generic", body, delivery=None).get_json()["status"] == "queued"
    assert send("generic", body, delivery=None).get_json()["status"] == "duplicate"
    assert pipelines.calls[0]["idempotency_key"].startswith("webhook:generic:demo:sha256:")


SIG_HEADERS = {"github": "X-Hub-Signature-256", "gitlab": "X-Gitlab-Token", "gitea": "X-Gitea-Signature",
               "gogs": "X-Gogs-Signature", "bitbucket": "X-Hub-Signature", "generic": "X-Shipway-Signature"}


@pytest.mark.parametrize("forge,fixture,event", PUSHES)
@pytest.mark.parametrize("value", ["", "sha256=", "sha256=zz", "sha1=abc", "sha256=" + "é" * 64, "\x00"])
def test_empty_or_garbage_signature_is_401(send, pipelines, forge, fixture, event, value):
    r = send(forge, fixture_bytes(fixture), event, sign=False, headers={SIG_HEADERS[forge]: value})
    assert r.status_code == 401 and pipelines.calls == []


def test_verify_is_constant_time_compare(monkeypatch):
    """Every check goes through hmac.compare_digest."""
    import hmac as hmac_mod

    from shipway.webhook import verify
    calls = []
    real = hmac_mod.compare_digest
    monkeypatch.setattr(verify.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    body = b"{}"
    verify.check_prefixed("sha256=" + hexmac(body), "H", SECRET, body)
    verify.check_bare_hex(hexmac(body), "H", SECRET, body)
    verify.check_token(SECRET, "H", SECRET)
    assert len(calls) == 3
