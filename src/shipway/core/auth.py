"""Users, roles and API tokens.

Roles: ``admin`` (everything), ``developer`` (change things), ``approver``
(approve runs), ``viewer`` (read). A role grants the roles in
:data:`ROLE_GRANTS`; ``has_role(user_role, needed)`` is the one check.

Passwords are hashed with scrypt (werkzeug's default, a slow hash); tokens are
256-bit random secrets stored as SHA-256 (a fast hash is right for random
secrets: there is nothing to brute-force) and compared in constant time by
looking up the hash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
import threading
import time

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from shipway.core.auth_models import ApiToken, User
from shipway.core.errors import BadRequest, Conflict, NotFound
from shipway.core.store import Store, utcnow

ROLES = ("admin", "developer", "approver", "viewer")
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset(ROLES),
    "developer": frozenset({"developer", "viewer"}),
    "approver": frozenset({"approver", "viewer"}),
    "viewer": frozenset({"viewer"}),
}
TOKEN_PREFIX = "swt_"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def has_role(role: str, needed: str) -> bool:
    """Whether a user with ``role`` may do what needs ``needed``."""
    return needed in ROLE_GRANTS.get(role, frozenset())


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is calling: resolved from a bearer token or a session cookie."""

    user_id: int
    username: str
    role: str
    via: str  # "token" or "session"

    def can(self, needed: str) -> bool:
        return has_role(self.role, needed)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"unknown role '{role}' (roles: {', '.join(ROLES)})", field="role")


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise BadRequest("password must have at least 8 characters", field="password")


#: How long a resolved token is trusted without asking the store again. Changes made through this
#: process (revoke, role change, removal) take effect at once; other servers see them within this time.
TOKEN_CACHE_SECONDS = 10.0


class Users:
    """User and token management on the SQL store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # token hash → (identity, monotonic deadline): a hot token costs no database round trip.
        self._token_cache: dict[str, tuple[Identity, float]] = {}
        self._cache_lock = threading.Lock()

    def _forget_tokens(self) -> None:
        with self._cache_lock:
            self._token_cache.clear()

    # -- users ---------------------------------------------------------
    def add(self, username: str, password: str, role: str) -> dict:
        if not _USERNAME.match(username):
            raise BadRequest("username must be 1-64 characters of A-Z a-z 0-9 _ . @ -", field="username")
        _check_role(role)
        _check_password(password)
        with self.store.session() as s:
            if s.scalar(select(User).where(User.username == username)):
                raise Conflict(f"user '{username}' already exists", details={"username": username})
            s.add(User(username=username, password_hash=generate_password_hash(password), role=role))
        return {"username": username, "role": role}

    def list(self) -> list[dict]:
        with self.store.session() as s:
            rows = s.scalars(select(User).order_by(User.username)).all()
            return [{"username": u.username, "role": u.role, "disabled": u.disabled,
                     "created_at": u.created_at.isoformat()} for u in rows]

    def count(self) -> int:
        with self.store.session() as s:
            return len(s.scalars(select(User.id)).all())

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        with self.store.session() as s:
            user = self._get(s, username)
            user.password_hash = generate_password_hash(password)
        self._forget_tokens()

    def set_role(self, username: str, role: str) -> None:
        _check_role(role)
        with self.store.session() as s:
            self._get(s, username).role = role
        self._forget_tokens()

    def remove(self, username: str) -> None:
        with self.store.session() as s:
            s.delete(self._get(s, username))
        self._forget_tokens()

    def authenticate(self, username: str, password: str) -> Identity | None:
        """Check a password; ``None`` when the user is unknown, disabled or the password is wrong."""
        with self.store.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                # Spend the same time as a real check so usernames cannot be probed by timing.
                check_password_hash(_DUMMY_HASH, password)
                return None
            if user.disabled or not check_password_hash(user.password_hash, password):
                return None
            return Identity(user.id, user.username, user.role, "session")

    def identity(self, user_id: int) -> Identity | None:
        with self.store.session() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled:
                return None
            return Identity(user.id, user.username, user.role, "session")

    @staticmethod
    def _get(s, username: str) -> User:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user '{username}'", details={"username": username})
        return user

    # -- tokens --------------------------------------------------------
    def create_token(self, username: str, name: str, ttl: dt.timedelta | None = None) -> dict:
        """Create a token; the secret is returned once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.session() as s:
            user = self._get(s, username)
            token = ApiToken(user_id=user.id, name=name[:128] or "token", prefix=secret[:12],
                             token_hash=hash_token(secret),
                             expires_at=utcnow() + ttl if ttl else None)
            s.add(token)
            s.flush()
            return {"id": token.id, "name": token.name, "prefix": token.prefix, "token": secret,
                    "username": username,
                    "expires_at": token.expires_at.isoformat() if token.expires_at else None}

    def list_tokens(self, username: str | None = None) -> list[dict]:
        with self.store.session() as s:
            q = select(ApiToken, User.username).join(User).order_by(ApiToken.id)
            if username:
                q = q.where(User.username == username)
            return [{"id": t.id, "name": t.name, "prefix": t.prefix, "username": uname,
                     "created_at": t.created_at.isoformat(),
                     "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                     "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                     "revoked": t.revoked_at is not None}
                    for t, uname in s.execute(q).all()]

    def revoke_token(self, token_id: int, username: str | None = None) -> None:
        """Revoke a token; with ``username``, only that user's token."""
        with self.store.session() as s:
            token = s.get(ApiToken, token_id)
            if token is None or (username and token.user.username != username):
                raise NotFound(f"no token {token_id}", details={"id": token_id})
            token.revoked_at = token.revoked_at or utcnow()
        self._forget_tokens()

    def resolve_token(self, secret: str) -> Identity | None:
        """The identity behind a bearer token, or ``None`` if unknown, revoked or expired."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        key = hash_token(secret)
        now_mono = time.monotonic()
        with self._cache_lock:
            hit = self._token_cache.get(key)
        if hit is not None and hit[1] > now_mono:
            return hit[0]
        ident, lifetime = self._resolve_token_in_store(key)
        if ident is not None:
            with self._cache_lock:
                if len(self._token_cache) > 10_000:  # bounded: many distinct tokens just skip caching
                    self._token_cache.clear()
                self._token_cache[key] = (ident, now_mono + min(TOKEN_CACHE_SECONDS, lifetime))
        return ident

    def _resolve_token_in_store(self, key: str) -> tuple[Identity | None, float]:
        """The token's identity and how many seconds it stays valid (``inf`` without expiry)."""
        with self.store.session() as s:
            token = s.scalar(select(ApiToken).where(ApiToken.token_hash == key))
            if token is None or token.revoked_at is not None or token.user.disabled:
                return None, 0.0
            now = utcnow()
            lifetime = float("inf")
            expires = token.expires_at
            if expires is not None:
                if expires.tzinfo is None:  # SQLite drops the zone; stored values are UTC
                    expires = expires.replace(tzinfo=dt.timezone.utc)
                if expires < now:
                    return None, 0.0
                lifetime = (expires - now).total_seconds()
            # Write last-used at most once a minute: a hot token must not turn reads into writes.
            last = token.last_used_at
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=dt.timezone.utc)
            if last is None or (now - last).total_seconds() > 60:
                token.last_used_at = now
            return Identity(token.user.id, token.user.username, token.user.role, "token"), lifetime

    def ensure_admin(self) -> str | None:
        """Create ``admin`` with a random password when there are no users; return the password once."""
        if self.count():
            return None
        password = secrets.token_urlsafe(12)
        self.add("admin", password, "admin")
        return password


_DUMMY_HASH = generate_password_hash("not-a-real-password")
