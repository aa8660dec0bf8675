"""``POST /webhooks/<forge>/<project>``: verify, dedupe, normalise, hand to the pipelines part, answer at once.

Order of checks, each recorded in the delivery log (see
:class:`~shipway.webhook.models.DeliveryStatus`):

1. unknown forge or project → 404 (not recorded: nothing to attach it to);
2. body over :data:`MAX_BODY` → 413;
3. signature (constant time) → 401;
4. JSON (GitHub also form-encoded ``payload=<json>``) and the forge's shape → 400;
5. event not handled → 202 ignored; ping → 200;
6. per ref: deletion or branch not in the project's globs → ignored; else
   ``pipelines.start_run(..., idempotency_key=...)`` (which only enqueues) → 202
   with the run's URL. A delivery id seen before answers the earlier run.

Nothing from the payload is ever run: it becomes a :class:`PushEvent` of plain strings.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

from shipway.core.errors import BadRequest, NotFound, PayloadTooLarge, ShipwayError, Unauthorized, Unavailable
from shipway.webhook.deliveries import DeliveryLog
from shipway.webhook.events import PushEvent
from shipway.webhook.forge import Forge, all_forges
from shipway.webhook.models import DeliveryStatus as S
from shipway.webhook.normalise import body_hash

log = logging.getLogger(__name__)

#: Largest accepted webhook body (GitHub caps its payloads at 25 MB but pushes are far smaller).
MAX_BODY = 5 * 1024 * 1024


FORM = "application/x-www-form-urlencoded"


def form_payload(body: bytes) -> bytes:
    """The JSON of a form-encoded delivery (``payload=<url-encoded json>``, GitHub's "form" content type)."""
    try:
        fields = urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True,
                                       max_num_fields=16, errors="strict")
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"form-encoded webhook body is malformed: {e}", field="payload") from None
    values = fields.get("payload") or []
    if len(values) != 1:
        raise BadRequest("a form-encoded webhook body must have exactly one 'payload' field", field="payload")
    return values[0].encode("utf-8")


class Receiver:
    """Turns one HTTP delivery into zero or more queued runs. Framework-free, so it is easy to test."""

    def __init__(self, services: dict, deliveries: DeliveryLog, max_body: int = MAX_BODY) -> None:
        self.services = services
        self.deliveries = deliveries
        self.max_body = max_body
        self.forges: dict[str, Forge] = all_forges()

    def handle(self, forge_name: str, project_name: str, headers, body: bytes | None,
               content_length: int | None, content_type: str = "application/json") -> tuple[int, dict]:
        """Handle one delivery; returns ``(http status, JSON answer)`` or raises a ShipwayError."""
        forge = self.forges.get(forge_name)
        if forge is None:
            raise NotFound(f"unknown forge '{forge_name}'; use one of {', '.join(sorted(self.forges))}",
                           details={"forge": forge_name})
        project, secret = self.services["projects"].with_webhook_secret(project_name)  # 404 if unknown
        event = forge.event_of(headers)[:64]
        rec = dict(forge=forge.name, project=project_name, event=event)
        given_id = forge.delivery_of(headers)
        try:
            if (content_length or 0) > self.max_body or body is None or len(body) > self.max_body:
                raise PayloadTooLarge(f"webhook body is larger than {self.max_body} bytes",
                                      details={"limit": self.max_body})
            rec["delivery_id"] = delivery = given_id or body_hash(body)
            form = content_type == FORM and forge.form_payload
            json_type = content_type == "application/json" or content_type.endswith("+json")
            if content_type and not form and not json_type:
                raise BadRequest(f"content type must be application/json, not {content_type}; "
                                 "set it in the forge's webhook settings", field="Content-Type")
            forge.verify(headers, body, secret)  # over the raw body, also for a form (that is what is signed)
            try:
                payload = json.loads(form_payload(body) if form else body)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise BadRequest(f"webhook body is not valid JSON: {e}") from None
            events = forge.parse(event, payload, delivery)
        except ShipwayError as e:
            status = {401: S.REJECTED, 413: S.TOO_LARGE}.get(e.status, S.INVALID)
            rec.setdefault("delivery_id", given_id or "")
            self.deliveries.record(**rec, status=status, http_status=e.status, reason=e.message)
            log.info("webhook %s/%s delivery %s refused: %s", forge.name, project_name, rec["delivery_id"],
                     e.message)
            raise
        if events is None:
            reason = f"event '{event}' is not handled by shipway" if event else "no event header"
            self.deliveries.record(**rec, status=S.IGNORED, http_status=202, reason=reason)
            return 202, {"status": "ignored", "reason": reason, "delivery": delivery}
        if len(events) == 1 and events[0].kind == "ping":
            self.deliveries.record(**rec, kind="ping", status=S.IGNORED, http_status=200, reason="ping")
            return 200, {"status": "pong", "delivery": delivery}
        return self._start(rec, delivery, events, project)

    # -- runs ----------------------------------------------------------------
    def _start(self, rec: dict, delivery: str, events: list[PushEvent], project) -> tuple[int, dict]:
        results: list[dict[str, Any]] = []
        for i, ev in enumerate(events):
            key = f"webhook:{rec['forge']}:{rec['project']}:{delivery}" + (f":{i}" if len(events) > 1 else "")
            results.append(self._start_one(rec, ev, key, project))
        runs = [r["run"] for r in results if r.get("run")]
        statuses = {r["status"] for r in results}
        status = "queued" if "queued" in statuses else ("duplicate" if "duplicate" in statuses else "ignored")
        body: dict[str, Any] = {"status": status, "delivery": delivery, "runs": runs, "refs": results}
        if runs:
            body["run_url"] = runs[0].get("url")
        if len(results) == 1 and results[0].get("reason"):
            body["reason"] = results[0]["reason"]
        return 202, body

    def _start_one(self, rec: dict, ev: PushEvent, key: str, project) -> dict[str, Any]:
        base = dict(rec, delivery_id=ev.delivery_id, kind=ev.kind, ref=ev.ref, commit=ev.commit)
        out: dict[str, Any] = {"ref": ev.ref, "kind": ev.kind}
        if ev.kind == "delete":
            reason = f"{ev.ref} was deleted: nothing to build"
        elif ev.kind == "push" and not project.allows_branch(ev.branch or ""):
            reason = f"branch '{ev.branch}' does not match the project's branches {list(project.branches)}"
        else:
            reason = ""
        if reason:
            self.deliveries.record(**base, status=S.IGNORED, http_status=202, reason=reason)
            return dict(out, status="ignored", reason=reason)
        pipelines = self.services.get("pipelines")
        if pipelines is None:
            msg = "the pipelines service is not available yet; the forge will retry"
            self.deliveries.record(**base, status=S.FAILED, http_status=503, reason=msg)
            raise Unavailable(msg)
        try:
            run = pipelines.start_run(rec["project"], event=ev, trigger=ev.kind, params=None,
                                      requested_by=ev.sender or None, idempotency_key=key)
        except ShipwayError as e:
            self.deliveries.record(**base, status=S.FAILED, http_status=e.status, reason=e.message)
            raise
        except Exception as e:  # a bug elsewhere must still leave a trace in the delivery log
            log.exception("start_run failed for %s delivery %s", rec["project"], ev.delivery_id)
            self.deliveries.record(**base, status=S.FAILED, http_status=500, reason=e.__class__.__name__)
            raise ShipwayError("the pipelines part failed to start the run; see the server log") from e
        dup = bool(run.get("duplicate"))
        info = {k: run.get(k) for k in ("id", "number", "url", "status")} | {"duplicate": dup}
        self.deliveries.record(**base, status=S.DUPLICATE if dup else S.QUEUED, http_status=202,
                               run_ids=[str(run.get("id"))], reason="same delivery id as an earlier one" if dup
                               else "")
        return dict(out, status="duplicate" if dup else "queued", run=info)


__all__ = ["MAX_BODY", "Receiver", "Unauthorized"]
