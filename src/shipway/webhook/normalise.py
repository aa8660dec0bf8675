"""Helpers shared by the forge modules to build :class:`~shipway.webhook.events.PushEvent` values.

Everything from a payload is untrusted: refs and shas are checked for shape
here, and :class:`Malformed` (a 400) names the field that is wrong.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable

from shipway.core.errors import BadRequest
from shipway.webhook.events import PushEvent

ZERO_RE = re.compile(r"^0+$")
SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")   # SHA-1 or SHA-256 object names
MAX_PATHS = 5000


class Malformed(BadRequest):
    """The payload is JSON but not the shape the forge documents."""


def body_hash(body: bytes) -> str:
    """Delivery id for forges that send none: the body's SHA-256 (a resend is a duplicate)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def dig(obj: Any, *keys: str, default: Any = None) -> Any:
    """``obj[k1][k2]...`` or ``default`` when any level is missing or not an object."""
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return default
        obj = obj[k]
    return obj if obj is not None else default


def text(obj: Any, *keys: str) -> str:
    v = dig(obj, *keys, default="")
    return v if isinstance(v, str) else str(v)


def require_str(payload: dict, key: str) -> str:
    v = payload.get(key)
    if not isinstance(v, str) or not v:
        raise Malformed(f"payload field '{key}' must be a non-empty string", field=key)
    return v


def is_zero(sha: str) -> bool:
    return bool(sha) and bool(ZERO_RE.match(sha))


def check_sha(sha: str, field: str) -> str:
    """A commit sha from a payload, lower-cased; 400 if it is not one (it later reaches git)."""
    sha = (sha or "").strip().lower()
    if not SHA_RE.match(sha) and not is_zero(sha):
        raise Malformed(f"payload field '{field}' is not a commit sha", field=field)
    return sha


def check_ref(ref: str, field: str = "ref") -> str:
    """A full ref name; control characters and non-branch/tag refs are refused."""
    if not isinstance(ref, str) or not ref.startswith(("refs/heads/", "refs/tags/")) or len(ref) > 1024 \
            or any(ord(c) < 32 or c == "\x7f" for c in ref) or ref.endswith("/"):
        raise Malformed(f"payload field '{field}' must be a refs/heads/… or refs/tags/… name", field=field)
    return ref


def changed_paths(commits: Iterable[Any]) -> tuple[str, ...]:
    """Added, modified and removed files over ``commits``, first-seen order, at most :data:`MAX_PATHS`."""
    seen: dict[str, None] = {}
    for c in commits or ():
        if not isinstance(c, dict):
            continue
        for key in ("added", "modified", "removed"):
            for p in c.get(key) or ():
                if isinstance(p, str) and len(seen) < MAX_PATHS:
                    seen.setdefault(p, None)
    return tuple(seen)


def build(forge: str, delivery: str, ref: str, *, before: str, after: str, deleted: bool = False,
          **fields: Any) -> PushEvent:
    """A push, tag or delete event from a ref and the new sha (zero/``deleted`` → delete)."""
    ref = check_ref(ref)
    before = check_sha(before, "before") if before else ""
    after = check_sha(after, "after") if after else ""
    deleted = deleted or not after or is_zero(after)
    name = ref.split("/", 2)[2]
    is_tag = ref.startswith("refs/tags/")
    kind = "delete" if deleted else ("tag" if is_tag else "push")
    return PushEvent(forge=forge, kind=kind, delivery_id=delivery, ref=ref,
                     branch=None if is_tag else name, tag=name if is_tag else None,
                     before=before, commit="" if deleted else after, **fields)


def ping(forge: str, delivery: str, repo_name: str = "") -> PushEvent:
    return PushEvent(forge=forge, kind="ping", delivery_id=delivery, repo_name=repo_name)
