"""The run registry: conversations, runs, their events, approvals, memory and token usage, kept
in a SQLite file or PostgreSQL (SQLAlchemy Core, Alembic migrations), written by one batching
thread off the fetch path. Imports only ``engine.common`` from the engine."""

from engine.store.journal import RunJournal
from engine.store.store import RunStore
from engine.store.url import default_store_url, store_url

__all__ = ["RunJournal", "RunStore", "default_store_url", "store_url"]
