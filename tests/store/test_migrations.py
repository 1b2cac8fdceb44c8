"""The Alembic migrations create exactly the tables the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine.store.migration import current_revision, head_revision, upgrade
from engine.store.schema import METADATA, VERSION_TABLE
from tests.store.conftest import OpenStore, StoreDb


def test_migrated_database_matches_the_models(store_db: StoreDb, open_store: OpenStore) -> None:
    open_store().close()
    engine = sa.create_engine(store_db.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, METADATA) == []
            assert current_revision(connection) == head_revision() is not None
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_keeps_data(store_db: StoreDb, open_store: OpenStore) -> None:
    store = open_store()
    store.create_conversation("alice", "ds-0011223344556677", conversation_id="c1")
    assert store.flush(5.0)
    store.close()
    engine = sa.create_engine(store_db.url, poolclass=sa.pool.NullPool)
    try:
        upgrade(engine)
        upgrade(engine)
    finally:
        engine.dispose()
    reopened = open_store()
    conversation = reopened.get_conversation("c1")
    assert conversation is not None and conversation.owner == "alice"
    assert [row[0] for row in store_db.query(f"SELECT count(*) FROM {VERSION_TABLE}")] == [1]
