"""The normalised form of every forge's push delivery.

Every forge module turns its own payload into a :class:`PushEvent`; the
pipelines part consumes only this type (it never sees forge payloads).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

EventKind = Literal["push", "tag", "delete", "ping"]


@dataclasses.dataclass(frozen=True)
class PushEvent:
    """A push, tag push, branch/tag deletion or ping, independent of the forge.

    ``commit`` is the exact commit to build (for GitLab annotated tags the
    ``checkout_sha``, not the tag object). Commit messages and branch names are
    untrusted data: never interpolate them into a shell.
    """

    forge: str                      # "github", "gitlab", "gitea", "gogs", "bitbucket", "generic"
    kind: EventKind
    delivery_id: str                # the forge's delivery id, or a hash of the body when it has none
    repo_name: str = ""             # "owner/name"
    clone_url: str = ""             # what `git clone` takes
    ref: str = ""                   # "refs/heads/main", "refs/tags/v1"
    branch: str | None = None       # "main" for branch pushes
    tag: str | None = None          # "v1" for tag pushes
    before: str = ""                # previous sha ("0"*40 for a new ref)
    commit: str = ""                # sha to build ("" for deletions and pings)
    message: str = ""               # head commit message
    author: str = ""                # head commit author name
    sender: str = ""                # who pushed (forge login)
    changed_paths: tuple[str, ...] = ()  # added/modified/removed files over the pushed commits
    compare_url: str = ""
    # Added by the webhook part (new fields only, with defaults):
    paths_complete: bool = False    # True when changed_paths lists every file the push changed
    forge_event: str = ""           # the forge's own event name ("push", "Tag Push Hook", "repo:push")

    @property
    def commit_short(self) -> str:
        return self.commit[:8]
