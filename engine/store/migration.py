"""Bring a store's schema to the newest Alembic revision, programmatically, at open.

The migration scripts are package data (``engine/store/migrations``), so an installed wheel
carries them. On PostgreSQL the upgrade holds a transaction-scoped advisory lock, so engines
that share one store and start together migrate it once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from engine.store.schema import VERSION_TABLE

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x6461_7461_6167  # an arbitrary constant: "dataag"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code (no alembic.ini) over ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the store to head in one transaction (a no-op when it is there already)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
        before = current_revision(connection)
        head = head_revision()
        if before == head:
            return
        command.upgrade(alembic_config(connection), "head")
        log.info("run store schema migrated from %s to %s", before or "nothing", head)
