"""The config history table's indexes: lean for publishes, still serving every lookup."""

from __future__ import annotations

from sqlalchemy import text

from shipway.config_center import models
from shipway.core.store import Store


def _plan(engine, sql: str) -> str:
    with engine.connect() as conn:
        return " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))


def test_indexes_of_an_earlier_schema_are_dropped_and_lookups_stay_indexed(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_all()
    with store.engine.begin() as conn:  # as an earlier version made them
        conn.execute(text("CREATE INDEX ix_config_history_key ON config_history (namespace, group_name, data_id)"))
        conn.execute(text("CREATE INDEX ix_config_history_state ON config_history (state)"))
    models.drop_replaced_indexes(store.engine)
    models.drop_replaced_indexes(store.engine)  # idempotent
    with store.engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert not names & set(models.REPLACED_INDEXES) and "ix_config_history_pending" in names
    assert "USING COVERING INDEX ix_config_history_pending" in _plan(
        store.engine, "SELECT id FROM config_history WHERE state = 'pending'")
    by_key = _plan(store.engine, "SELECT * FROM config_history WHERE namespace = 'a' AND group_name = 'b' "
                                 "AND data_id = 'c' AND state = 'committed' ORDER BY version DESC LIMIT 10")
    assert "USING INDEX sqlite_autoindex_config_history" in by_key and "TEMP B-TREE" not in by_key
