"""ProjectService: validation, sealing of secrets, the Project value object."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shipway.core.errors import Conflict, NotFound, Unavailable, ValidationFailed
from shipway.pipelines.project_models import Sealer
from shipway.pipelines.projects import ProjectService


@pytest.fixture
def svc(unit_app, unit_ctx) -> ProjectService:
    return unit_ctx.services["projects"]


def test_add_get_list_remove(svc):
    p = svc.add("app", "https://git.example.invalid/team/app.git", branches=["main", "release/*"],
                secrets={"TOKEN": "t0ps3cret"}, credentials={"username": "bot", "password": "pw-123"},
                notify_url="http://127.0.0.1:9/hook")
    assert p.branches == ("main", "release/*") and p.pipeline_file == ".shipway.yml"
    assert p.secret_names == ("TOKEN",) and p.has_credentials and p.created_at.tzinfo is not None
    assert svc.get("app") == p
    assert [x.name for x in svc.list()] == ["app"]
    assert svc.secrets_of("app") == {"TOKEN": "t0ps3cret"}
    assert svc.credentials_of("app") == {"username": "bot", "password": "pw-123"}
    assert len(svc.webhook_secret_of("app")) >= 32
    svc.remove("app")
    with pytest.raises(NotFound):
        svc.get("app")
    with pytest.raises(NotFound):
        svc.remove("app")


def test_project_repr_has_no_secret(svc):
    svc.add("app", "https://x.invalid/a.git", webhook_secret="webhook-secret-value",
            secrets={"TOKEN": "t0ps3cret"}, credentials={"token": "cred-value"})
    p = svc.get("app")
    shown = repr(p) + str(p.to_dict())
    for secret in ("webhook-secret-value", "t0ps3cret", "cred-value"):
        assert secret not in shown


def test_secrets_are_sealed_in_sql(svc, unit_ctx):
    svc.add("app", "https://x.invalid/a.git", webhook_secret="webhook-secret-value",
            secrets={"TOKEN": "t0ps3cret"}, credentials={"token": "cred-value"})
    with unit_ctx.store.engine.connect() as c:
        row = " ".join(str(v) for v in c.execute(text("select * from projects")).one())
    for secret in ("webhook-secret-value", "t0ps3cret", "cred-value"):
        assert secret not in row


def test_changed_secret_key_is_a_clear_error(svc, unit_ctx):
    svc.add("app", "https://x.invalid/a.git")
    other = ProjectService(unit_ctx.store, "another-key")
    with pytest.raises(Unavailable, match="secret_key changed"):
        other.webhook_secret_of("app")


def test_duplicate_is_conflict(svc):
    svc.add("app", "https://x.invalid/a.git")
    with pytest.raises(Conflict):
        svc.add("app", "https://x.invalid/b.git")


@pytest.mark.parametrize("name,url,kw,path", [
    ("Bad Name", "https://x.invalid/a.git", {}, "name"),
    ("app", "--upload-pack=touch /tmp/x", {}, "repo_url"),
    ("app", "https://x.invalid/a b.git", {}, "repo_url"),
    ("app", "ftp://x.invalid/a.git", {}, "repo_url"),
    ("app", "https://x.invalid/a.git", {"pipeline_file": "../../etc/passwd"}, "pipeline_file"),
    ("app", "https://x.invalid/a.git", {"pipeline_file": "/etc/passwd"}, "pipeline_file"),
    ("app", "https://x.invalid/a.git", {"branches": []}, "branches"),
    ("app", "https://x.invalid/a.git", {"branches": "main"}, "branches"),
    ("app", "https://x.invalid/a.git", {"secrets": {"1BAD": "x"}}, "secrets.1BAD"),
    ("app", "https://x.invalid/a.git", {"credentials": {"cookie": "x"}}, "credentials.cookie"),
    ("app", "https://x.invalid/a.git", {"notify_url": "file:///etc/passwd"}, "notify_url"),
    ("app", "https://x.invalid/a.git", {"webhook_secret": "short"}, "webhook_secret"),
])
def test_validation_names_the_field(svc, name, url, kw, path):
    with pytest.raises(ValidationFailed) as e:
        svc.add(name, url, **kw)
    assert path in [err["path"] for err in e.value.errors]


def test_every_error_reported(svc):
    with pytest.raises(ValidationFailed) as e:
        svc.add("app", "", branches=[], pipeline_file="/x")
    assert {err["path"] for err in e.value.errors} == {"repo_url", "branches", "pipeline_file"}


def test_accepted_repo_urls(svc):
    for i, url in enumerate(["git@github.com:team/app.git", "ssh://git@host:2222/team/app.git",
                             "/srv/git/app.git", "file:///srv/git/app.git", "http://127.0.0.1:3000/a/b.git"]):
        svc.add(f"app{i}", url)


def test_update_and_rotate(svc):
    svc.add("app", "https://x.invalid/a.git", secrets={"A": "1"})
    old = svc.webhook_secret_of("app")
    p = svc.update("app", branches=["main"], secrets={"B": "2"}, notify_url="", default_pipeline="stages: []\n")
    assert p.branches == ("main",) and p.secret_names == ("B",) and p.notify_url is None
    assert p.default_pipeline == "stages: []\n" and svc.secrets_of("app") == {"B": "2"}
    assert svc.rotate_webhook_secret("app") != old
    with pytest.raises(ValidationFailed):
        svc.update("app", name="other")
    with pytest.raises(ValidationFailed):
        svc.update("app", repo_url="-oops")


def test_branch_globs(svc):
    p = svc.add("app", "https://x.invalid/a.git", branches=["main", "release/*"])
    assert p.allows_branch("main") and p.allows_branch("release/1.0") and not p.allows_branch("mainline")
    assert svc.add("all", "https://x.invalid/a.git").allows_branch("anything/at/all")


def test_sealer_round_trip():
    s = Sealer("k")
    assert s.open(s.seal("v")) == "v" and s.seal("v") != "v"
    assert s.open_json(s.seal_json({"a": "b"})) == {"a": "b"}
