"""GitLab: ``X-Gitlab-Event``, ``X-Gitlab-Token`` (the shared secret token), delivery id from
``Idempotency-Key`` (same across retries) or ``X-Gitlab-Event-UUID``.

Handles ``Push Hook`` and ``Tag Push Hook`` (also as ``System Hook`` by
``object_kind``). For annotated tags ``after`` is the tag object: the commit
to build is ``checkout_sha``. A deletion has ``after`` all zeros.
"""

from __future__ import annotations

from typing import Any

from shipway.webhook.events import PushEvent
from shipway.webhook.forge import Forge
from shipway.webhook.normalise import Malformed, build, changed_paths, is_zero, require_str, text
from shipway.webhook.verify import check_token

KINDS = {"Push Hook": "push", "Tag Push Hook": "tag_push"}


def verify(headers, body: bytes, secret: str) -> None:
    check_token(headers.get("X-Gitlab-Token"), "X-Gitlab-Token", secret)


def parse(event: str, p: Any, delivery: str) -> list[PushEvent] | None:
    if not isinstance(p, dict):
        raise Malformed("payload must be a JSON object")
    kind = KINDS.get(event) or (p.get("object_kind") if event == "System Hook" else None)
    if kind not in ("push", "tag_push"):
        return None
    ref, before, after = require_str(p, "ref"), text(p, "before"), require_str(p, "after")
    deleted = is_zero(after)
    checkout = p.get("checkout_sha") or ""
    commit = "" if deleted else (checkout or after)
    commits = p.get("commits") or []
    if not isinstance(commits, list):
        raise Malformed("payload field 'commits' must be a list", field="commits")
    head = next((c for c in commits if isinstance(c, dict) and c.get("id") == commit), None) \
        or (commits[-1] if commits and isinstance(commits[-1], dict) else {})
    total = p.get("total_commits_count")
    complete = (bool(commits) and isinstance(total, int) and total <= len(commits)
                and bool(before) and not is_zero(before))
    web = text(p, "project", "web_url")
    compare = f"{web}/-/compare/{before}...{after}" if web and before and not is_zero(before) and not deleted \
        else ""
    return [build("gitlab", delivery, ref, before=before, after=commit, deleted=deleted,
                  repo_name=text(p, "project", "path_with_namespace"),
                  clone_url=text(p, "project", "git_http_url") or text(p, "repository", "git_http_url"),
                  message=text(head, "message") or text(p, "message"), author=text(head, "author", "name"),
                  sender=text(p, "user_username") or text(p, "user_name"),
                  changed_paths=changed_paths(commits), paths_complete=complete,
                  compare_url=compare, forge_event=event)]


FORGE = Forge(name="gitlab", event_header="X-Gitlab-Event",
              delivery_headers=("Idempotency-Key", "X-Gitlab-Event-UUID"),
              verify=verify, parse=parse, signature_header="X-Gitlab-Token")
