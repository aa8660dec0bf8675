"""Bad input and attacks on the webhook endpoint; none creates a run."""

from __future__ import annotations

import dataclasses
import json
import logging
import urllib.parse

import pytest

from shipway.webhook.receiver import MAX_BODY
from unit.webhook.conftest import SECRET, fixture_bytes, hexmac


@pytest.mark.parametrize("forge,event", [("github", "push"), ("gitlab", "Push Hook"), ("gitea", "push"),
                                         ("bitbucket", "repo:push"), ("generic", "push")])
def test_malformed_json_is_400(send, pipelines, deliveries, forge, event):
    r = send(forge, b'{"ref": "refs/heads/main", ', event)
    assert r.status_code == 400 and pipelines.calls == []
    assert deliveries.list("demo")[0]["status"] == "invalid"


@pytest.mark.parametrize("body", [[1, 2], {"ref": 5, "after": "x"}, {"ref": "refs/heads/main"},
                                  {"ref": "refs/heads/main", "after": "not-a-sha"},
                                  {"ref": "refs/pull/1/head", "after": "a" * 40},
                                  {"ref": "refs/heads/a\nb", "after": "a" * 40},
                                  {"ref": "refs/heads/main", "after": "a" * 40, "commits": "x"}])
def test_wrong_shape_is_400(send, pipelines, body):
    r = send("github", body, "push")
    assert r.status_code == 400, r.get_json()
    assert pipelines.calls == []


def test_oversized_is_413(send, pipelines, deliveries):
    body = b'{"pad": "' + b"x" * MAX_BODY + b'"}'
    r = send("github", body, "push")
    assert r.status_code == 413 and r.get_json()["details"]["limit"] == MAX_BODY
    assert pipelines.calls == [] and deliveries.list("demo")[0]["status"] == "too_large"


def test_unknown_project_and_forge_are_404(send, pipelines):
    assert send("github", fixture_bytes("github-push.json"), "push", project="nope").status_code == 404
    r = send.client.post("/webhooks/svn/demo", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 404 and pipelines.calls == []


FORM = "application/x-www-form-urlencoded"


def test_form_encoded_is_400_for_forges_that_only_send_json(send, pipelines):
    r = send("gitlab", b"payload=%7B%7D", "Push Hook", content_type=FORM)
    assert r.status_code == 400 and "application/json" in r.get_json()["message"] and pipelines.calls == []


def test_github_form_encoded_push_is_accepted_like_json(send, pipelines):
    """GitHub's "application/x-www-form-urlencoded" content type: payload=<json>, signed over the form body."""
    raw = fixture_bytes("github-push.json")
    form = b"payload=" + urllib.parse.quote_plus(raw).encode()
    r = send("github", form, "push", content_type=FORM)
    assert r.status_code == 202 and r.get_json()["status"] == "queued", r.get_json()
    r2 = send("github", raw, "push")
    assert r2.status_code == 202
    by_form, by_json = pipelines.events
    assert dataclasses.replace(by_form, delivery_id="") == dataclasses.replace(by_json, delivery_id="")
    assert by_form.commit == json.loads(raw)["after"] and by_form.branch == "main"


def test_github_form_signature_is_over_the_raw_form_body(send, pipelines):
    raw = fixture_bytes("github-push.json")
    form = b"payload=" + urllib.parse.quote_plus(raw).encode()
    wrong = {"X-Hub-Signature-256": "sha256=" + hexmac(raw)}  # signed over the JSON inside: not what GitHub does
    r = send("github", form, "push", content_type=FORM, sign=False, headers=wrong)
    assert r.status_code == 401 and pipelines.calls == []


@pytest.mark.parametrize("body", [b"payload=%7B%7D&payload=%7B%7D", b"nopayload=1", b"payload=%ff%fe", b"payload",
                                  b"payload=%7Bnot-json"])
def test_github_malformed_form_is_400(send, pipelines, body):
    r = send("github", body, "push", content_type=FORM)
    assert r.status_code == 400 and pipelines.calls == []


def test_get_is_not_allowed(send):
    assert send.client.get("/webhooks/github/demo").status_code in (401, 405)


def test_branch_filter(send, pipelines, projects):
    projects.update("demo", branches=["release/*", "prod"])
    r = send("github", fixture_bytes("github-push.json"), "push")
    assert r.status_code == 202 and r.get_json()["status"] == "ignored" and "branches" in r.get_json()["reason"]
    payload = json.loads(fixture_bytes("generic-push.json"))
    payload["ref"] = "refs/heads/release/1.2"
    assert send("generic", payload).get_json()["status"] == "queued"
    # tags are not branch-filtered: the pipeline's own triggers decide
    assert send("github", fixture_bytes("github-tag-push.json"), "push").get_json()["status"] == "queued"
    assert [e.ref for e in pipelines.events] == ["refs/heads/release/1.2", "refs/tags/the-tag-v1"]


def test_shell_syntax_stays_data(send, pipelines, tmp_path):
    marker = tmp_path / "pwned"
    evil = f"feat;$(touch {marker})`touch {marker}`"
    payload = json.loads(fixture_bytes("github-push.json"))
    payload["ref"] = "refs/heads/" + evil
    payload["head_commit"]["message"] = f"$(touch {marker}); `touch {marker}` && touch {marker}"
    r = send("github", payload, "push")
    assert r.status_code == 202
    ev = pipelines.events[0]
    assert ev.branch == evil and ev.message.startswith("$(touch")
    assert not marker.exists()


def test_pipelines_missing_is_503(unit_app, unit_ctx, projects):
    from unit.webhook.conftest import Sender
    unit_ctx.services.pop("pipelines", None)
    r = Sender(unit_app.test_client())("github", fixture_bytes("github-push.json"), "push")
    assert r.status_code == 503 and r.get_json()["error"] == "unavailable"
    assert unit_ctx.services["webhook_deliveries"].list("demo")[0]["status"] == "failed"


def test_pipeline_refusal_is_passed_on(send, pipelines, deliveries):
    from shipway.core.errors import Conflict

    def refuse(*a, **kw):
        raise Conflict("project is paused")
    pipelines.start_run = refuse
    r = send("github", fixture_bytes("github-push.json"), "push")
    assert r.status_code == 409 and deliveries.list("demo")[0]["status"] == "failed"


def test_secret_never_logged_or_recorded(send, pipelines, deliveries, caplog):
    caplog.set_level(logging.DEBUG)
    send("gitlab", fixture_bytes("gitlab-push.json"), "Push Hook", secret="wrong-token-value-123")
    send("gitlab", fixture_bytes("gitlab-push.json"), "Push Hook")
    text = caplog.text + json.dumps(deliveries.list("demo"))
    assert SECRET not in text and "wrong-token-value-123" not in text


def test_deliveries_are_pruned(unit_ctx, projects, monkeypatch):
    from shipway.webhook import deliveries as mod
    from shipway.webhook.models import DeliveryStatus
    monkeypatch.setattr(mod, "KEEP_PER_PROJECT", 10)
    log = unit_ctx.services["webhook_deliveries"]
    for i in range(120):
        log.record(forge="github", project="demo", delivery_id=str(i), event="push",
                   status=DeliveryStatus.IGNORED, http_status=202)
    assert len(log.list("demo", limit=500)) < 60


def test_metrics_count_deliveries(send, unit_app, as_role):
    send("github", fixture_bytes("github-push.json"), "push", sign=False)
    text = as_role(unit_app, "viewer").get("/metrics").get_data(as_text=True)
    assert 'shipway_webhook_deliveries_total{forge="github",status="rejected"}' in text


def test_pipeline_crash_is_500_and_recorded(send, pipelines, deliveries):
    def crash(*a, **kw):
        raise RuntimeError("boom")
    pipelines.start_run = crash
    r = send("github", fixture_bytes("github-push.json"), "push")
    assert r.status_code == 500 and deliveries.list("demo")[0]["status"] == "failed"
