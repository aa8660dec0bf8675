"""Pipelines: YAML spec and validation, triggers, the run queue, the run engine, stage kinds, approvals, log streaming with secret masking."""
