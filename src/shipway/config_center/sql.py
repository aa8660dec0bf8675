"""Prebuilt SQL statements of the publish hot path.

Built once with bind parameters and executed with plain dicts: SQLAlchemy then reuses the compiled
form instead of constructing and coercing a new statement per publish (which cost more CPU than the
SQLite work itself).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from shipway.config_center.models import ConfigAudit, ConfigHistory, ConfigItem

H = ConfigHistory.__table__
I = ConfigItem.__table__  # noqa: E741 - table alias
A = ConfigAudit.__table__

_H_KEY = (H.c.namespace == bindparam("k_ns")) & (H.c.group_name == bindparam("k_group")) \
    & (H.c.data_id == bindparam("k_id"))
_I_KEY = (I.c.namespace == bindparam("k_ns")) & (I.c.group_name == bindparam("k_group")) \
    & (I.c.data_id == bindparam("k_id"))

MAX_VERSION = select(func.max(H.c.version)).where(_H_KEY)
INSERT_HISTORY = H.insert()
DELETE_UNDECIDED = H.delete().where(_H_KEY & (H.c.version == bindparam("version"))
                                    & (H.c.state != "committed"))
MARK_ROW = H.update().where(H.c.id == bindparam("row_id")).values(state=bindparam("new_state"))
INSERT_AUDIT = A.insert()
DELETE_INDEX = I.delete().where(_I_KEY)
INDEX_FIELDS = ("version", "md5", "type", "size", "description", "tags", "author", "updated_at")
UPDATE_INDEX = I.update().where(_I_KEY & (I.c.version < bindparam("v_version"))).values(
    {f: bindparam(f"v_{f}") for f in INDEX_FIELDS})
INDEX_VERSION = select(I.c.version).where(_I_KEY)
INSERT_INDEX = I.insert()


def key_params(key: tuple[str, str, str]) -> dict[str, str]:
    return {"k_ns": key[0], "k_group": key[1], "k_id": key[2]}
