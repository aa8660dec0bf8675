"""What every forge module provides, and the table of forges by URL name."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from shipway.webhook.events import PushEvent

Headers = Mapping[str, str]
#: ``parse(event, payload, delivery_id) -> events`` — ``None`` for an event shipway does not handle.
Parser = Callable[[str, Any, str], "list[PushEvent] | None"]


@dataclasses.dataclass(frozen=True)
class Forge:
    """One forge's webhook dialect."""

    name: str
    event_header: str                      # header naming the event
    delivery_headers: tuple[str, ...]      # headers carrying a delivery id, first present wins
    verify: Callable[[Headers, bytes, str], None]   # raises Unauthorized
    parse: Parser
    default_event: str = ""                # when the event header is absent (generic hook)
    signature_header: str = ""             # documented in docs/webhooks.md and the add output
    form_payload: bool = False             # also sends application/x-www-form-urlencoded `payload=<json>`

    def event_of(self, headers: Headers) -> str:
        return (headers.get(self.event_header) or self.default_event).strip()

    def delivery_of(self, headers: Headers) -> str | None:
        for h in self.delivery_headers:
            v = (headers.get(h) or "").strip()
            if v:
                return v[:200]
        return None


def all_forges() -> dict[str, Forge]:
    """Forges by the name used in ``/webhooks/<forge>/<project>``."""
    from shipway.webhook import bitbucket, generic, gitea, github, gitlab

    forges = [github.FORGE, gitlab.FORGE, gitea.GITEA, gitea.GOGS, bitbucket.FORGE, generic.FORGE]
    return {f.name: f for f in forges}
