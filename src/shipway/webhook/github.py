"""GitHub: ``X-GitHub-Event``, ``X-GitHub-Delivery``, ``X-Hub-Signature-256: sha256=<hex>``.

Handles ``ping`` and ``push`` (branches, tags, deletions), sent as ``application/json`` or as
``application/x-www-form-urlencoded`` (``payload=<json>``; the signature covers the raw form body). GitHub lists at most
20 commits per push, so ``changed_paths`` is complete only below that.
"""

from __future__ import annotations

from typing import Any

from shipway.webhook.events import PushEvent
from shipway.webhook.forge import Forge
from shipway.webhook.normalise import Malformed, build, changed_paths, is_zero, ping, require_str, text
from shipway.webhook.verify import check_prefixed

GITHUB_COMMIT_LIMIT = 20


def verify(headers, body: bytes, secret: str) -> None:
    check_prefixed(headers.get("X-Hub-Signature-256"), "X-Hub-Signature-256", secret, body)


def parse(event: str, p: Any, delivery: str) -> list[PushEvent] | None:
    if not isinstance(p, dict):
        raise Malformed("payload must be a JSON object")
    if event == "ping":
        return [ping("github", delivery, text(p, "repository", "full_name"))]
    if event != "push":
        return None
    ref, before, after = require_str(p, "ref"), text(p, "before"), require_str(p, "after")
    commits = p.get("commits") or []
    if not isinstance(commits, list):
        raise Malformed("payload field 'commits' must be a list", field="commits")
    head = p.get("head_commit") or {}
    complete = (0 < len(commits) < GITHUB_COMMIT_LIMIT and not p.get("forced")
                and not is_zero(before) and bool(before))
    return [build("github", delivery, ref, before=before, after=after, deleted=bool(p.get("deleted")),
                  repo_name=text(p, "repository", "full_name"),
                  clone_url=text(p, "repository", "clone_url"),
                  message=text(head, "message"), author=text(head, "author", "name"),
                  sender=text(p, "sender", "login") or text(p, "pusher", "name"),
                  changed_paths=changed_paths(commits), paths_complete=complete,
                  compare_url=text(p, "compare"), forge_event=event)]


FORGE = Forge(name="github", event_header="X-GitHub-Event", delivery_headers=("X-GitHub-Delivery",),
              verify=verify, parse=parse, signature_header="X-Hub-Signature-256", form_payload=True)
