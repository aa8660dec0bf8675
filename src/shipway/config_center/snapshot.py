"""The SDK's on-disk snapshot: the last value seen of every config, for starts while the server is away.

One JSON file per config at ``<dir>/<namespace>/<group>/<dataId>.json``, written atomically (temporary
file + rename) so a crash never leaves a half-written snapshot.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Snapshot:
    """Read and write snapshot files under ``directory`` (``None`` disables the snapshot)."""

    def __init__(self, directory: str | os.PathLike | None) -> None:
        self.dir = Path(directory).expanduser() if directory else None

    def _file(self, key: tuple[str, str, str]) -> Path | None:
        if self.dir is None:
            return None
        ns, group, data_id = key
        return self.dir / ns / group / f"{data_id}.json"

    def save(self, key: tuple[str, str, str], value: dict[str, Any]) -> None:
        path = self._file(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snap-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f)
            os.replace(tmp, path)
        except OSError:
            log.warning("cannot write config snapshot %s", path, exc_info=True)

    def load(self, key: tuple[str, str, str]) -> dict[str, Any] | None:
        path = self._file(key)
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("ignoring unreadable config snapshot %s", path)
            return None
