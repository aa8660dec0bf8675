"""SQL tables of projects, and the sealing of their secrets at rest.

A project row keeps its webhook secret, git credentials and ``from_secret``
values *sealed*: encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package) under a key derived from ``settings.secret_key``.
The webhook secret must be readable again (HMAC verification needs it), so it
cannot be hashed like a password. Changing ``secret_key`` makes sealed values
unreadable: :class:`Sealer` then raises :class:`~shipway.core.errors.Unavailable`
with a message saying so, instead of returning garbage.
"""

from __future__ import annotations

import base64
import functools
import datetime as dt
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipway.core.errors import Unavailable
from shipway.core.store import Base, utcnow


class ProjectRow(Base):
    """One project registered on the server (``projects`` table)."""

    __tablename__ = "projects"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    repo_url: Mapped[str] = mapped_column(Text)
    branches: Mapped[str] = mapped_column(Text, default='["*"]')       # JSON list of globs
    pipeline_file: Mapped[str] = mapped_column(String(255), default=".shipway.yml")
    default_pipeline: Mapped[str | None] = mapped_column(Text, nullable=True)
    notify_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_api: Mapped[str | None] = mapped_column(Text, nullable=True)  # forge repo API URL for commit statuses
    webhook_secret: Mapped[str] = mapped_column(Text)                   # sealed
    credentials: Mapped[str] = mapped_column(Text, default="")          # sealed JSON object
    secrets: Mapped[str] = mapped_column(Text, default="")              # sealed JSON object
    secret_names: Mapped[str] = mapped_column(Text, default="[]")       # JSON list (names are not secret)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Sealer:
    """Encrypts and decrypts small secrets with a key derived from the server's secret key."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise Unavailable("settings.secret_key is empty; cannot seal project secrets")
        # Domain-separated derivation so the session-cookie key is never used directly.
        raw = hashlib.sha256(b"shipway/projects/v1\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))
        # Every run start and webhook delivery opens its project's values: ~0.2 ms (HMAC, AES) each, measured.
        # A sealed value never changes (a new value is a new token, with a fresh IV), so the plaintext of
        # the last tokens seen is kept, in this process only (it holds the key anyway).
        self._opened = functools.lru_cache(maxsize=256)(self._decrypt)

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._opened(sealed)

    def _decrypt(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise Unavailable("a project secret cannot be decrypted: settings.secret_key changed since it was "
                              "stored; set the old key back or re-enter the project's secrets") from None

    def seal_json(self, value: dict[str, Any] | None) -> str:
        return self.seal(json.dumps(value or {}, sort_keys=True))

    def open_json(self, sealed: str) -> dict[str, Any]:
        return json.loads(self.open(sealed)) if sealed else {}
