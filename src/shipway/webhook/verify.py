"""Signature checks, all in constant time (:func:`hmac.compare_digest`).

Each helper raises :class:`~shipway.core.errors.Unauthorized` naming the header
that is missing or wrong, never the expected value.
"""

from __future__ import annotations

import hashlib
import hmac

from shipway.core.errors import Unauthorized


def hmac_hex(secret: str, body: bytes, algo: str = "sha256") -> str:
    """Hex HMAC of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode(), body, getattr(hashlib, algo)).hexdigest()


def _same(a: str, b: str) -> bool:
    # compare_digest on bytes: it refuses non-ASCII str, and an attacker controls the header.
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def check_prefixed(value: str | None, header: str, secret: str, body: bytes, prefix: str = "sha256=") -> None:
    """``<header>: sha256=<hex hmac>`` (GitHub, Bitbucket Cloud, the generic hook)."""
    if not value:
        raise Unauthorized(f"missing {header} signature header; set the webhook's secret on the forge")
    if not value.startswith(prefix):
        raise Unauthorized(f"{header} must be '{prefix}<hex>'")
    if not _same(value[len(prefix):].strip().lower(), hmac_hex(secret, body)):
        raise Unauthorized(f"{header} does not match the body: wrong secret or altered payload")


def check_bare_hex(value: str | None, header: str, secret: str, body: bytes) -> None:
    """``<header>: <hex hmac-sha256>`` (Gitea, Gogs). An empty header means the hook is unsigned."""
    if not value or not value.strip():
        raise Unauthorized(f"missing or empty {header}: the hook is unsigned; set its secret on the forge")
    if not _same(value.strip().lower(), hmac_hex(secret, body)):
        raise Unauthorized(f"{header} does not match the body: wrong secret or altered payload")


def check_token(value: str | None, header: str, secret: str) -> None:
    """``<header>: <shared token>`` (GitLab's secret token)."""
    if not value:
        raise Unauthorized(f"missing {header}; set the webhook's secret token on the forge")
    if not _same(value, secret):
        raise Unauthorized(f"{header} is wrong")
