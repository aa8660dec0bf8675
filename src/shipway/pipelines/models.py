"""SQL tables of the pipelines part: runs, stages, steps, log spans (and legacy log chunks), approvals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, Index)
from sqlalchemy.orm import Mapped, mapped_column

from shipway.core.store import Base, utcnow


class RunRow(Base):
    """One run of a project's pipeline."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (UniqueConstraint("project", "number", name="uq_run_number"),
                      UniqueConstraint("idempotency_key", name="uq_run_idempotency"),
                      Index("ix_run_status", "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="queued")
    trigger: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    event: Mapped[dict] = mapped_column(JSON, default=dict)    # PushEvent fields (untrusted data)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    requested_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    pipeline: Mapped[dict | None] = mapped_column(JSON, nullable=True)   # the validated spec, once read
    errors: Mapped[list | None] = mapped_column(JSON, nullable=True)     # validation errors
    reason: Mapped[str] = mapped_column(Text, default="")
    concurrency_group: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    executor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    rerun_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resume_at: Mapped[int | None] = mapped_column(Integer, nullable=True)  # top-level stage index to resume at
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StageRow(Base):
    """A stage of a run (parallel children carry ``parent``)."""

    __tablename__ = "pipeline_stages"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_stage_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="pending")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)   # digest, image, junit summary, errors
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StepRow(Base):
    """A step (command) of a stage, or the one implicit step of a non-command stage."""

    __tablename__ = "pipeline_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="pending")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    junit: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LogChunk(Base):
    """A masked piece of a step's output (chunks keep writes batched and reads incremental)."""

    __tablename__ = "pipeline_log_chunks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # global order: SSE resumes after an id
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    step_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)


class LogSpan(Base):
    """Index of a run's log file: ``length`` masked bytes at ``offset`` of ``file`` are output of ``step_id``
    (``None``: shipway's own run-level lines). The bytes live in an append-only file per run
    (``<data_dir>/pipelines/logs/<run id>.log``), not in SQL: storing 100 MB of output costs a file append
    instead of 100 MB through the database. Rows of runs logged before this table are in ``LogChunk``."""

    __tablename__ = "pipeline_log_spans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # global order: SSE resumes after an id
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    step_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    file: Mapped[str] = mapped_column(String(1000))
    offset: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(Integer)


class ApprovalRow(Base):
    """An approval gate of a run: its rules and, once made, the decision."""

    __tablename__ = "pipeline_approvals"
    __table_args__ = (UniqueConstraint("run_id", "stage", name="uq_approval_stage"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    users: Mapped[list] = mapped_column(JSON, default=list)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    requester_may_not_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs: Mapped[list] = mapped_column(JSON, default=list)
    on_timeout: Mapped[str] = mapped_column(String(8), default="abort")
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending approved rejected timed-out cancelled
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    values: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
