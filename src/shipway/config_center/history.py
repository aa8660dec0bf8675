"""Queries on the SQL side: list/search, history, one version, diff, audit, namespaces."""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import func, or_, select

from shipway.config_center import validate
from shipway.config_center.models import ConfigAudit, ConfigHistory, ConfigItem, RowState
from shipway.core.errors import BadRequest, NotFound


def _iso(t) -> str | None:
    return t.isoformat() if t else None


def history_dict(row: ConfigHistory, *, content: bool = False) -> dict[str, Any]:
    d = {"id": row.id, "namespace": row.namespace, "group": row.group_name, "dataId": row.data_id,
         "version": row.version, "op": row.op, "md5": row.md5, "type": row.type, "desc": row.description,
         "tags": [t for t in row.tags.split(",") if t], "author": row.author, "sourceIp": row.source_ip,
         "time": _iso(row.created_at)}
    if content:
        d["content"] = row.content
    return d


def _glob_to_like(pattern: str) -> str:
    out = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return out.replace("*", "%").replace("?", "_")


class HistoryQueries:
    """Read-side operations mixed into :class:`shipway.config_center.service.ConfigService`."""

    store: Any

    # -- list / search ----------------------------------------------------------
    def list_configs(self, *, namespace: str | None = None, group: str | None = None, data_id: str | None = None,
                     tags: Any = None, page: int = 1, size: int = 50) -> tuple[int, list[dict[str, Any]]]:
        """Configs matching the filters (``data_id`` and ``group`` may hold ``*``/``?`` globs; ``tags`` all
        present), ordered by namespace/group/dataId; returns ``(total, page items)``."""
        _, tag_list = validate.check_meta("", tags)
        q = select(ConfigItem)
        if namespace:
            q = q.where(ConfigItem.namespace == validate.check_name(namespace, "namespace"))
        for column, value, fld in ((ConfigItem.group_name, group, "group"), (ConfigItem.data_id, data_id, "dataId")):
            if value:
                if len(value) > 256:
                    raise BadRequest(f"{fld} pattern too long", field=fld)
                q = q.where(column.like(_glob_to_like(value), escape="\\")) if any(c in value for c in "*?") \
                    else q.where(column == value)
        for tag in tag_list:
            q = q.where(or_(ConfigItem.tags == tag, ConfigItem.tags.like(f"{tag},%"),
                            ConfigItem.tags.like(f"%,{tag}"), ConfigItem.tags.like(f"%,{tag},%")))
        with self.store.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(ConfigItem.namespace, ConfigItem.group_name, ConfigItem.data_id)
                             .offset((page - 1) * size).limit(size)).all()
            items = [{"namespace": r.namespace, "group": r.group_name, "dataId": r.data_id, "version": r.version,
                      "md5": r.md5, "type": r.type, "size": r.size, "desc": r.description,
                      "tags": [t for t in r.tags.split(",") if t], "author": r.author,
                      "updatedAt": _iso(r.updated_at)} for r in rows]
        return total, items

    # -- history ---------------------------------------------------------------
    def _history_query(self, namespace: str, group: str, data_id: str):
        key = self.key(namespace, group, data_id)  # type: ignore[attr-defined]
        return key, select(ConfigHistory).where(
            ConfigHistory.namespace == key[0], ConfigHistory.group_name == key[1], ConfigHistory.data_id == key[2],
            ConfigHistory.state == RowState.COMMITTED.value)

    def history(self, namespace: str, group: str, data_id: str, *, page: int = 1,
                size: int = 50) -> tuple[int, list[dict[str, Any]]]:
        """Acknowledged versions, newest first (without content)."""
        _, q = self._history_query(namespace, group, data_id)
        with self.store.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(ConfigHistory.version.desc()).offset((page - 1) * size).limit(size)).all()
            return total, [history_dict(r) for r in rows]

    def version(self, namespace: str, group: str, data_id: str, version: int) -> dict[str, Any]:
        """One acknowledged version with its content."""
        key, q = self._history_query(namespace, group, data_id)
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise BadRequest("version must be an integer", field="version") from None
        with self.store.session() as s:
            row = s.scalar(q.where(ConfigHistory.version == version))
            if row is None:
                raise NotFound(f"config {'/'.join(key)} has no version {version}",
                               details={"version": version})
            return history_dict(row, content=True)

    def history_by_id(self, row_id: int) -> dict[str, Any]:
        with self.store.session() as s:
            row = s.get(ConfigHistory, row_id)
            if row is None or row.state != RowState.COMMITTED.value:
                raise NotFound(f"no history entry {row_id}")
            return history_dict(row, content=True)

    def previous(self, row_id: int) -> dict[str, Any]:
        """The acknowledged version just before history entry ``row_id`` (Nacos ``history/previous``)."""
        cur = self.history_by_id(row_id)
        _, q = self._history_query(cur["namespace"], cur["group"], cur["dataId"])
        with self.store.session() as s:
            row = s.scalar(q.where(ConfigHistory.version < cur["version"]).order_by(ConfigHistory.version.desc()))
            if row is None:
                raise NotFound(f"history entry {row_id} has no previous version")
            return history_dict(row, content=True)

    def diff(self, namespace: str, group: str, data_id: str, from_version: int, to_version: int | None = None,
             context: int = 3) -> dict[str, Any]:
        """Unified diff between two versions (``to_version`` None = the latest acknowledged one)."""
        a = self.version(namespace, group, data_id, from_version)
        if to_version is None:
            _, items = self.history(namespace, group, data_id, page=1, size=1)
            if not items:
                raise NotFound("config has no history")
            to_version = items[0]["version"]
        b = self.version(namespace, group, data_id, to_version)
        lines = difflib.unified_diff(a["content"].splitlines(keepends=True), b["content"].splitlines(keepends=True),
                                     fromfile=f"{data_id}@v{a['version']}", tofile=f"{data_id}@v{b['version']}",
                                     n=context)
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return {"from": a["version"], "to": b["version"], "diff": text}

    # -- audit -----------------------------------------------------------------
    def audit(self, *, namespace: str | None = None, data_id: str | None = None, actor: str | None = None,
              page: int = 1, size: int = 50) -> tuple[int, list[dict[str, Any]]]:
        """Who changed what, when, from where; newest first."""
        q = select(ConfigAudit)
        if namespace:
            q = q.where(ConfigAudit.namespace == namespace)
        if data_id:
            q = q.where(ConfigAudit.data_id == data_id)
        if actor:
            q = q.where(ConfigAudit.actor == actor)
        with self.store.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(ConfigAudit.id.desc()).offset((page - 1) * size).limit(size)).all()
            return total, [{"id": r.id, "time": _iso(r.at), "actor": r.actor, "sourceIp": r.source_ip,
                            "action": r.action, "namespace": r.namespace, "group": r.group_name,
                            "dataId": r.data_id, "version": r.version, "detail": r.detail} for r in rows]
