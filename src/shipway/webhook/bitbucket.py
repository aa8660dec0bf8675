"""Bitbucket Cloud: ``X-Event-Key``, ``X-Request-UUID`` (delivery; ``X-Hook-UUID`` names the hook),
``X-Hub-Signature: sha256=<hex>`` (HMAC-SHA256 of the body with the hook's secret).

Handles ``repo:push`` — one delivery may carry several ``push.changes``
(one per ref): each becomes its own event — and ``diagnostics:ping``.
A change with ``new: null`` (``closed``) is a deletion. Bitbucket's push
payload lists no files, so ``changed_paths`` is empty and incomplete.
"""

from __future__ import annotations

from typing import Any

from shipway.webhook.events import PushEvent
from shipway.webhook.forge import Forge
from shipway.webhook.normalise import Malformed, build, dig, ping, text
from shipway.webhook.verify import check_prefixed

REF_PREFIX = {"branch": "refs/heads/", "named_branch": "refs/heads/", "tag": "refs/tags/",
              "annotated_tag": "refs/tags/"}


def verify(headers, body: bytes, secret: str) -> None:
    check_prefixed(headers.get("X-Hub-Signature"), "X-Hub-Signature", secret, body)


def _ref(side: dict, i: int) -> str:
    prefix = REF_PREFIX.get(side.get("type"))
    name = side.get("name")
    if prefix is None or not isinstance(name, str) or not name:
        raise Malformed(f"push.changes[{i}] must name a branch or tag", field=f"push.changes[{i}]")
    return prefix + name


def parse(event: str, p: Any, delivery: str) -> list[PushEvent] | None:
    if not isinstance(p, dict):
        raise Malformed("payload must be a JSON object")
    if event == "diagnostics:ping":
        return [ping("bitbucket", delivery, text(p, "repository", "full_name"))]
    if event != "repo:push":
        return None
    changes = dig(p, "push", "changes")
    if not isinstance(changes, list):
        raise Malformed("payload field 'push.changes' must be a list", field="push.changes")
    html = text(p, "repository", "links", "html", "href")
    common = dict(repo_name=text(p, "repository", "full_name"), clone_url=f"{html}.git" if html else "",
                  sender=text(p, "actor", "nickname") or text(p, "actor", "display_name"), forge_event=event)
    out = []
    for i, ch in enumerate(changes):
        if not isinstance(ch, dict):
            raise Malformed(f"push.changes[{i}] must be an object", field=f"push.changes[{i}]")
        new, old = ch.get("new"), ch.get("old")
        if not isinstance(new, dict) and not isinstance(old, dict):
            raise Malformed(f"push.changes[{i}] has neither 'new' nor 'old'", field=f"push.changes[{i}]")
        side = new if isinstance(new, dict) else old
        before = text(old, "target", "hash") if isinstance(old, dict) else ""
        after = text(new, "target", "hash") if isinstance(new, dict) else ""
        target = new.get("target") if isinstance(new, dict) else {}
        author = text(target, "author", "user", "display_name") or text(target, "author", "raw")
        out.append(build("bitbucket", delivery, _ref(side, i), before=before, after=after,
                         deleted=not isinstance(new, dict) or bool(ch.get("closed")),
                         message=text(target, "message"), author=author,
                         compare_url=text(ch, "links", "html", "href"), **common))
    return out


FORGE = Forge(name="bitbucket", event_header="X-Event-Key", delivery_headers=("X-Request-UUID",),
              verify=verify, parse=parse, signature_header="X-Hub-Signature")
