"""The generic JSON hook, for any system that can POST: ``X-Shipway-Signature: sha256=<hex>``
(HMAC-SHA256 of the body with the project's webhook secret), optional
``X-Shipway-Event`` (``push`` by default, or ``ping``) and ``X-Shipway-Delivery``
(a unique id per delivery; the body's SHA-256 when absent).

Body (see docs/webhooks.md)::

    {"ref": "refs/heads/main",            # required; refs/tags/… for a tag
     "after": "<40-hex sha>",             # required; all zeros = ref deleted
     "before": "<sha>",                   # optional
     "repository": {"name": "team/app", "clone_url": "https://…"},   # optional
     "message": "…", "author": "…", "sender": "…",                   # optional
     "changed_paths": ["src/a.py", …],    # optional: complete list of changed files
     "compare_url": "…"}                  # optional
"""

from __future__ import annotations

from typing import Any

from shipway.webhook.events import PushEvent
from shipway.webhook.forge import Forge
from shipway.webhook.normalise import MAX_PATHS, Malformed, build, ping, require_str, text
from shipway.webhook.verify import check_prefixed


def verify(headers, body: bytes, secret: str) -> None:
    check_prefixed(headers.get("X-Shipway-Signature"), "X-Shipway-Signature", secret, body)


def parse(event: str, p: Any, delivery: str) -> list[PushEvent] | None:
    if not isinstance(p, dict):
        raise Malformed("payload must be a JSON object")
    if event == "ping":
        return [ping("generic", delivery, text(p, "repository", "name"))]
    if event != "push":
        return None
    paths = p.get("changed_paths")
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(x, str) for x in paths)
                              or len(paths) > MAX_PATHS):
        raise Malformed(f"'changed_paths' must be a list of at most {MAX_PATHS} strings", field="changed_paths")
    for key in ("message", "author", "sender", "compare_url", "before"):
        if key in p and not isinstance(p[key], str):
            raise Malformed(f"'{key}' must be a string", field=key)
    return [build("generic", delivery, require_str(p, "ref"), before=text(p, "before"),
                  after=require_str(p, "after"), repo_name=text(p, "repository", "name"),
                  clone_url=text(p, "repository", "clone_url"), message=text(p, "message"),
                  author=text(p, "author"), sender=text(p, "sender"),
                  changed_paths=tuple(paths or ()), paths_complete=paths is not None,
                  compare_url=text(p, "compare_url"), forge_event=event)]


FORGE = Forge(name="generic", event_header="X-Shipway-Event", delivery_headers=("X-Shipway-Delivery",),
              verify=verify, parse=parse, default_event="push", signature_header="X-Shipway-Signature")
