"""The SQL store: durable, queryable history (runs, logs, config history, audit, users).

SQLAlchemy 2.0; a SQLite file in the data dir by default, PostgreSQL (or any
SQLAlchemy URL) by setting ``db``. Every part declares its tables on
:class:`Base` in its own ``models`` module; :meth:`Store.create_all` creates
whatever is missing. SQLite runs in WAL mode with a busy timeout so that
readers never block the writer and concurrent writers wait instead of failing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Iterator

from sqlalchemy import DateTime, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from shipway.core.errors import Unavailable


def utcnow() -> dt.datetime:
    """Timezone-aware now, the only clock stored timestamps use."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base every part's models share (one metadata, one schema)."""


class Meta(Base):
    """Key/value facts about this installation (schema version, readiness probe)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _sqlite_pragmas(dbapi_conn, _record, autocheckpoint_pages: int | None = None) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    if autocheckpoint_pages is not None:  # a background checkpointer runs (core/checkpoint.py)
        cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
    cur.close()


class Store:
    """The database engine and session factory.

    Use ``with store.session() as s:`` — the block commits on success and
    rolls back on any exception.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:  # a server's connections can be cut (restart, idle timeout); a SQLite file's cannot, and the
            kwargs["pool_pre_ping"] = True  # ping would cost every session a round trip for nothing
        self.engine: Engine = create_engine(url, **kwargs)
        #: set while a background checkpointer runs: new SQLite connections checkpoint by themselves only
        #: past this many log pages (core/checkpoint.py)
        self.autocheckpoint_pages: int | None = None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect",
                         lambda conn, record: _sqlite_pragmas(conn, record, self.autocheckpoint_pages))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create every table declared on :class:`Base` that does not exist yet."""
        # Import the parts' models so their tables are registered on Base.
        from shipway.core import auth_models  # noqa: F401
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as e:
            raise Unavailable(f"cannot create the database schema at {self.safe_url}: {e.orig}") from e

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def check_writable(self) -> None:
        """Write and read back a row; raise :class:`Unavailable` if the store cannot."""
        try:
            with self.session() as s:
                row = s.get(Meta, "probe") or Meta(key="probe")
                row.value = utcnow().isoformat()
                row.updated_at = utcnow()
                s.add(row)
            with self.session() as s:
                s.execute(select(Meta.key).where(Meta.key == "probe")).one()
        except SQLAlchemyError as e:
            raise Unavailable(f"store not writable: {e.__class__.__name__}") from e

    def dispose(self) -> None:
        self.engine.dispose()
