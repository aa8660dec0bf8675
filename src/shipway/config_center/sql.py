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


class BatchStatements:
    """The statements of a publish batch's SQL transaction (history rows, audit rows, index rows), compiled
    once for the engine's dialect and run with the driver cursor's ``executemany``.

    Measured (2026-11-24, SQLite, batch of 4 records): 0.10 ms of CPU against 0.28 ms through SQLAlchemy's
    ``execute``, whose per-row parameter processing and per-statement execution context cost more than
    SQLite's own work. The index rows are one upsert that never moves an index row backwards (SQLite and
    PostgreSQL); on other databases :attr:`upsert_index` is ``None`` and the caller updates them one by one.
    """

    def __init__(self, dialect) -> None:
        self.history = _Compiled(H.insert().inline(), HISTORY_COLUMNS, dialect)
        self.audit = _Compiled(A.insert().inline(), AUDIT_COLUMNS, dialect)
        self.upsert_index = _Compiled(_upsert(dialect), INDEX_COLUMNS, dialect) \
            if dialect.name in ("sqlite", "postgresql") else None
        # SQLite stores a datetime as text in SQLAlchemy's own format: the same conversion as its Core does.
        proc = H.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.stamp = proc or (lambda value: value)


HISTORY_COLUMNS = ("namespace", "group_name", "data_id", "version", "op", "state", "content", "md5", "type",
                   "description", "tags", "author", "source_ip", "created_at")
AUDIT_COLUMNS = ("at", "actor", "source_ip", "action", "namespace", "group_name", "data_id", "version", "detail")
INDEX_COLUMNS = ("namespace", "group_name", "data_id", *INDEX_FIELDS)


class _Compiled:
    """One statement as the driver takes it: SQL text and rows given as tuples in ``columns`` order."""

    def __init__(self, stmt, columns: tuple[str, ...], dialect) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.columns = columns
        order = list(compiled.positiontup) if compiled.positional else None
        if order is not None and order != list(columns):
            raise ValueError(f"compiled parameters {order} are not in the order {list(columns)}")
        self.named = order is None

    def run(self, cursor, rows: list[tuple]) -> None:
        if self.named:
            rows = [dict(zip(self.columns, row)) for row in rows]
        cursor.executemany(self.sql, rows)


def _upsert(dialect):
    if dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = insert(I)
    return stmt.on_conflict_do_update(index_elements=[I.c.namespace, I.c.group_name, I.c.data_id],
                                      set_={f: stmt.excluded[f] for f in INDEX_FIELDS},
                                      where=I.c.version < stmt.excluded.version)
