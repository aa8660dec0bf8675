"""SQL table of webhook deliveries (``webhook_deliveries``): every POST to a hook, for the console
and for debugging. Never holds a body, a header value or a secret."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipway.core.store import Base, utcnow


class DeliveryStatus(str, enum.Enum):
    """What became of one delivery."""

    QUEUED = "queued"            # a run was started (202)
    DUPLICATE = "duplicate"      # same delivery id seen before: the earlier run is answered (202)
    IGNORED = "ignored"          # ping, deletion, unknown event, branch not allowed: no run (200/202)
    REJECTED = "rejected"        # missing or wrong signature (401)
    INVALID = "invalid"          # not JSON or not the forge's shape (400)
    TOO_LARGE = "too_large"      # body over the limit (413)
    FAILED = "failed"            # the pipelines part refused or was unavailable (4xx/503)


class DeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    forge: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(200), default="")
    event: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(16), default="")        # push/tag/delete/ping or ""
    ref: Mapped[str] = mapped_column(Text, default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(Text, default="")            # comma-separated when several
    reason: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_webhook_deliveries_project", "project", "id"),
                      Index("ix_webhook_deliveries_delivery", "forge", "project", "delivery_id"))
