"""Every store test runs twice: on a SQLite file and on a fresh database of the real PostgreSQL
(created for the test, dropped after it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.store import RunStore
from engine.store.store import StoreOptions
from tests.support.databases import pg_database

FAST = StoreOptions(heartbeat_interval=0.2, retention_interval=0.2, retry_max=0.2, close_timeout=10.0)


@dataclass(frozen=True)
class StoreDb:
    backend: str  # sqlite | postgresql
    url: str
    path: Path | None = None  # the SQLite file
    database: str | None = None  # the PostgreSQL database

    def via_port(self, port: int) -> str:
        """The same PostgreSQL database reached through another local port (a proxy)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{self.database}"

    def query(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        """Read the store's tables with a connection of the test's own, never the store's."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(sql), params).all()]
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreDb]:
    if request.param == "sqlite":
        path = tmp_path / "store" / "store.db"
        yield StoreDb("sqlite", f"sqlite:///{path}", path=path)
        return
    with pg_database("store") as name:
        yield StoreDb("postgresql", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}", database=name)


OpenStore = Callable[..., RunStore]


@pytest.fixture
def open_store(store_db: StoreDb) -> Iterator[OpenStore]:
    """Factory: ``open_store(url=None, **RunStore.open options)``; every store is closed at teardown."""
    opened: list[RunStore] = []

    def factory(url: str | None = None, **options: object) -> RunStore:
        options.setdefault("options", FAST)
        store = RunStore.open(url or store_db.url, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield factory
    for store in reversed(opened):
        store.close(timeout=2.0)


@pytest.fixture
def store(open_store: OpenStore) -> RunStore:
    return open_store()
