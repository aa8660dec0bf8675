"""Users, roles and tokens on a real SQLite store."""

import datetime as dt

import pytest

from shipway.core.auth import has_role
from shipway.core.auth_models import ApiToken, User
from shipway.core.errors import BadRequest, Conflict, NotFound


def test_roles():
    assert has_role("admin", "approver") and has_role("developer", "viewer")
    assert not has_role("developer", "approver") and not has_role("viewer", "developer")
    assert not has_role("nobody", "viewer")


def test_password_is_hashed_slowly(unit_ctx):
    unit_ctx.users.add("alice", "correct horse", "developer")
    with unit_ctx.store.session() as s:
        stored = s.query(User).filter_by(username="alice").one().password_hash
    assert "correct horse" not in stored and stored.startswith("scrypt:")
    assert unit_ctx.users.authenticate("alice", "correct horse").role == "developer"
    assert unit_ctx.users.authenticate("alice", "wrong") is None
    assert unit_ctx.users.authenticate("nobody", "x") is None


def test_bad_users(unit_ctx):
    with pytest.raises(BadRequest, match="role"):
        unit_ctx.users.add("bob", "password1", "king")
    with pytest.raises(BadRequest, match="8 characters"):
        unit_ctx.users.add("bob", "short", "viewer")
    with pytest.raises(BadRequest, match="username"):
        unit_ctx.users.add("bad name; rm", "password1", "viewer")
    unit_ctx.users.add("bob", "password1", "viewer")
    with pytest.raises(Conflict):
        unit_ctx.users.add("bob", "password1", "viewer")
    with pytest.raises(NotFound):
        unit_ctx.users.set_password("carol", "password1")


def test_token_lifecycle(unit_ctx):
    users = unit_ctx.users
    users.add("dev", "password1", "developer")
    created = users.create_token("dev", "ci")
    secret = created["token"]
    with unit_ctx.store.session() as s:
        assert secret not in {t.token_hash for t in s.query(ApiToken)}
    ident = users.resolve_token(secret)
    assert ident.username == "dev" and ident.via == "token"
    assert users.resolve_token(secret + "x") is None
    assert [t["name"] for t in users.list_tokens("dev")] == ["ci"]
    users.revoke_token(created["id"])
    assert users.resolve_token(secret) is None
    assert users.list_tokens()[0]["revoked"]


def test_expired_token(unit_ctx):
    unit_ctx.users.add("temp", "password1", "viewer")
    t = unit_ctx.users.create_token("temp", "short", dt.timedelta(seconds=-1))
    assert unit_ctx.users.resolve_token(t["token"]) is None


def test_first_admin(unit_ctx):
    password = unit_ctx.users.ensure_admin()
    assert password and unit_ctx.users.authenticate("admin", password).role == "admin"
    assert unit_ctx.users.ensure_admin() is None


def test_token_cache_never_outlives_a_revocation_or_role_change(unit_ctx):
    users = unit_ctx.users
    users.add("cache", "password1", "developer")
    t = users.create_token("cache", "hot")
    assert users.resolve_token(t["token"]).role == "developer"
    users.set_role("cache", "viewer")
    assert users.resolve_token(t["token"]).role == "viewer"   # not the cached developer
    users.revoke_token(t["id"])
    assert users.resolve_token(t["token"]) is None


def test_token_cache_respects_expiry(unit_ctx):
    users = unit_ctx.users
    users.add("short", "password1", "viewer")
    t = users.create_token("short", "brief", dt.timedelta(seconds=1))
    assert users.resolve_token(t["token"]) is not None
    import time
    deadline = time.monotonic() + 5
    while users.resolve_token(t["token"]) is not None:
        assert time.monotonic() < deadline, "an expired token was still accepted"
        time.sleep(0.05)
