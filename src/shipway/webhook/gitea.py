"""Gitea and Gogs: ``X-Gitea-Event`` / ``X-Gogs-Event``, ``X-Gitea-Delivery`` / ``X-Gogs-Delivery``,
and a bare-hex HMAC-SHA256 of the body in ``X-Gitea-Signature`` / ``X-Gogs-Signature``.

An empty signature header is what Gitea sends for a hook without a secret:
it is refused (every shipway project has a secret). Handles ``push``
(branches, tags, deletions with an all-zero ``after``) and ``delete``
(a branch or tag removed: recorded, no run). Gitea and Gogs have no ping
event (their "Test Delivery" sends a push).
"""

from __future__ import annotations

from typing import Any

from shipway.webhook.events import PushEvent
from shipway.webhook.forge import Forge
from shipway.webhook.normalise import Malformed, build, changed_paths, is_zero, require_str, text
from shipway.webhook.verify import check_bare_hex


def _verifier(header: str):
    def verify(headers, body: bytes, secret: str) -> None:
        check_bare_hex(headers.get(header), header, secret, body)
    return verify


def _parser(forge: str):
    def parse(event: str, p: Any, delivery: str) -> list[PushEvent] | None:
        if not isinstance(p, dict):
            raise Malformed("payload must be a JSON object")
        repo = dict(repo_name=text(p, "repository", "full_name"), clone_url=text(p, "repository", "clone_url"),
                    sender=text(p, "sender", "login") or text(p, "sender", "username"), forge_event=event)
        if event == "delete":
            ref_type, name = text(p, "ref_type"), require_str(p, "ref")
            prefix = "refs/tags/" if ref_type == "tag" else "refs/heads/"
            return [build(forge, delivery, prefix + name, before="", after="", deleted=True, **repo)]
        if event != "push":
            return None
        ref, before, after = require_str(p, "ref"), text(p, "before"), require_str(p, "after")
        commits = p.get("commits") or []
        if not isinstance(commits, list):
            raise Malformed("payload field 'commits' must be a list", field="commits")
        head = p.get("head_commit") or (commits[0] if commits and isinstance(commits[0], dict) else {})
        total = p.get("total_commits", len(commits))
        complete = (bool(commits) and isinstance(total, int) and total <= len(commits)
                    and bool(before) and not is_zero(before))
        return [build(forge, delivery, ref, before=before, after=after,
                      message=text(head, "message"), author=text(head, "author", "name"),
                      changed_paths=changed_paths(commits), paths_complete=complete,
                      compare_url=text(p, "compare_url"), **repo)]
    return parse


GITEA = Forge(name="gitea", event_header="X-Gitea-Event", delivery_headers=("X-Gitea-Delivery",),
              verify=_verifier("X-Gitea-Signature"), parse=_parser("gitea"), signature_header="X-Gitea-Signature")
GOGS = Forge(name="gogs", event_header="X-Gogs-Event", delivery_headers=("X-Gogs-Delivery",),
             verify=_verifier("X-Gogs-Signature"), parse=_parser("gogs"), signature_header="X-Gogs-Signature")
