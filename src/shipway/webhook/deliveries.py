"""The delivery log: record each delivery, find an earlier one by id, list recent ones."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter
from sqlalchemy import delete, select

from shipway.core.store import Store, utcnow
from shipway.webhook.models import DeliveryRow, DeliveryStatus

#: Deliveries kept per project; older ones are pruned (a flood of bad requests cannot grow the table forever).
KEEP_PER_PROJECT = 1000

DELIVERIES = Counter("shipway_webhook_deliveries_total", "Webhook deliveries by forge and outcome",
                     ["forge", "status"])


class DeliveryLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, *, forge: str, project: str, delivery_id: str, event: str, status: DeliveryStatus,
               http_status: int, kind: str = "", ref: str = "", commit: str = "", run_ids: list[str] = (),
               reason: str = "") -> int:
        row = DeliveryRow(forge=forge, project=project, delivery_id=delivery_id[:200], event=event[:64],
                          kind=kind, ref=ref[:1024], commit=commit[:64], status=status.value,
                          http_status=http_status, run_id=",".join(str(r) for r in run_ids),
                          reason=reason[:500], received_at=utcnow())
        DELIVERIES.labels(forge, status.value).inc()
        with self.store.session() as s:
            s.add(row)
            s.flush()
            if row.id % 50 == 0:
                self._prune(s, project)
            return row.id

    @staticmethod
    def _prune(s, project: str) -> None:
        ids = s.scalars(select(DeliveryRow.id).where(DeliveryRow.project == project)
                        .order_by(DeliveryRow.id.desc()).offset(KEEP_PER_PROJECT).limit(1)).all()
        if ids:
            s.execute(delete(DeliveryRow).where(DeliveryRow.project == project, DeliveryRow.id <= ids[0]))

    def find_queued(self, forge: str, project: str, delivery_id: str) -> dict[str, Any] | None:
        """The earlier delivery with this id that started a run, if any."""
        with self.store.session() as s:
            row = s.scalars(select(DeliveryRow).where(
                DeliveryRow.forge == forge, DeliveryRow.project == project,
                DeliveryRow.delivery_id == delivery_id, DeliveryRow.status == DeliveryStatus.QUEUED.value)
                .order_by(DeliveryRow.id).limit(1)).first()
            return _dict(row) if row else None

    def list(self, project: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = select(DeliveryRow).order_by(DeliveryRow.id.desc()).limit(limit)
        if project is not None:
            q = q.where(DeliveryRow.project == project)
        with self.store.session() as s:
            return [_dict(r) for r in s.scalars(q)]


def _dict(r: DeliveryRow) -> dict[str, Any]:
    return {"id": r.id, "forge": r.forge, "project": r.project, "delivery_id": r.delivery_id, "event": r.event,
            "kind": r.kind, "ref": r.ref, "commit": r.commit, "status": r.status, "http_status": r.http_status,
            "run_ids": [x for x in r.run_id.split(",") if x], "reason": r.reason,
            "received_at": r.received_at.isoformat() if r.received_at else None}
