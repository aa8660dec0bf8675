"""The failover snapshot: the last known instances of each service, on disk.

Written on every successful update, read when a service is first looked at, so a process that starts
(or runs) while ZooKeeper/the server is unreachable still serves the last good list.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def default_dir() -> Path:
    return Path(os.environ.get("SHIPWAY_DISCOVERY_SNAPSHOTS") or Path.home() / ".cache" / "shipway" / "discovery")


class Snapshots:
    """One JSON file per service: ``<dir>/<namespace>/<group>@@<service>.json``."""

    def __init__(self, directory: Path | str | None) -> None:
        self.dir = Path(directory) if directory else None

    def _file(self, ns: str, group: str, service: str) -> Path | None:
        return self.dir / ns / f"{group}@@{service}.json" if self.dir else None

    def save(self, ns: str, group: str, service: str, data: dict) -> None:
        path = self._file(ns, group, service)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snap-")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)  # atomic: a crash never leaves half a snapshot
        except OSError as e:
            log.warning("cannot write discovery snapshot %s: %s", path, e)

    def load(self, ns: str, group: str, service: str) -> dict | None:
        path = self._file(ns, group, service)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return data if isinstance(data, dict) and isinstance(data.get("instances"), list) else None
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable discovery snapshot %s: %s", path, e)
            return None
