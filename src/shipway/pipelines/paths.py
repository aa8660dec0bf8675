"""ZooKeeper paths of the pipelines part (under ``zkpaths.PIPELINES``)::

    /shipway/pipelines
      /queue/run-<seq>          persistent sequential; data = run id (ASCII). Deleted once claimed.
      /executors/<executor-id>  ephemeral; an executor is alive while its node exists
"""

from __future__ import annotations

from shipway.core.zkpaths import PIPELINES, join

QUEUE = f"{PIPELINES}/queue"
EXECUTORS = f"{PIPELINES}/executors"


def queue_item_prefix() -> str:
    return f"{QUEUE}/run-"


def executor(executor_id: str) -> str:
    return f"{EXECUTORS}/{join(executor_id)}"
