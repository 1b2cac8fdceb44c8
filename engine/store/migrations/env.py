"""Alembic environment of the run registry. Runs only programmatically, from
:func:`engine.store.migration.upgrade`, on the connection it passes in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from engine.store.schema import METADATA, VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run from engine.store.migration, on a given connection")

context.configure(
    connection=connection,
    target_metadata=METADATA,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
