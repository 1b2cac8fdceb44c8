"""Real databases for the tools tests (a SQLite file, a PostgreSQL schema, a MariaDB database,
each with a unique name, dropped afterwards) and registries over them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pymysql
import pytest

from engine.common.cancel import CancelToken
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.datasource import Datasource
from engine.datasource.catalog import Catalog
from engine.tools import ToolContext, ToolRegistry
from tests.support import databases

SEED = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, country VARCHAR(40))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), "
    "amount DECIMAL(10,2), placed DATE, note VARCHAR(100))",
    "INSERT INTO customers VALUES (1, 'Ann', 'FR'), (2, 'Bob', 'DE'), (3, 'Cy|d', NULL), (4, 'Dee', 'FR')",
    "INSERT INTO orders VALUES (1, 1, 10.50, '2024-01-05', 'first'), (2, 1, 20.00, '2024-02-07', NULL), "
    "(3, 2, 7.25, '2024-02-09', 'x'), (4, 3, 99.99, '2024-03-01', 'big')",
]


def make_conf(**overrides: str) -> EngineConf:
    values = {f"kyuubi.engine.data.agent.{key}": value for key, value in overrides.items()}
    return EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})


@dataclass
class Target:
    """One real database with a registry over it and an admin view for verification."""

    kind: str  # sqlite | postgresql | mysql
    datasource: Datasource
    registry: ToolRegistry
    workdir: Path
    name: str  # schema / database / file
    admin: Any = field(repr=False, default=None)

    def ctx(
        self, cancel: CancelToken | None = None, conf: EngineConf | None = None, session: str = "s1"
    ) -> ToolContext:
        folder = self.workdir / session
        folder.mkdir(parents=True, exist_ok=True)
        return ToolContext(session, folder, cancel or CancelToken(), conf or self.registry_conf)

    registry_conf: EngineConf = field(default_factory=make_conf)

    def call(self, name: str, args: Any, **kwargs: Any) -> Any:
        return self.registry.call(name, args, self.ctx(**kwargs))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.admin(sql)


def _target(
    kind: str, url: str, name: str, admin: Any, tmp_path: Path, scheduler: DeadlineScheduler
) -> Iterator[Target]:
    """A registry over the database at ``url``; closed when the fixture ends."""
    conf = make_conf(**{"jdbc.url": url})
    datasource = Datasource.from_conf(conf, scheduler)
    registry = ToolRegistry.default(datasource, Catalog(datasource, conf), conf, scheduler=scheduler)
    yield Target(kind, datasource, registry, tmp_path / "work", name, admin, conf)
    registry.close()
    datasource.close()


# --- SQLite --------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_target(tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[Target]:
    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "shop.db"  # alone in its folder: the corpus checks no file appears
    with sqlite3.connect(path) as connection:
        for statement in SEED:
            connection.execute(statement)

    def admin(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as connection:
            return list(connection.execute(sql).fetchall())

    yield from _target("sqlite", f"jdbc:sqlite:{path}", str(path), admin, tmp_path, scheduler)


# --- PostgreSQL ----------------------------------------------------------------------------------
# What the PostgreSQL corpus attacks besides the shop: a BRIN index with unsummarized ranges
# (brin_summarize_new_values would summarize them for good, past any rollback) and a volatile
# function nobody put on a deny-list (it takes an advisory lock, which a read-only transaction allows).
PG_EXTRA = [
    "CREATE SEQUENCE seq",
    "SELECT nextval('seq')",
    "CREATE TABLE t_brin_data (a integer) WITH (autovacuum_enabled = false)",
    "CREATE INDEX t_brin ON t_brin_data USING brin (a) WITH (pages_per_range = 1)",
    "INSERT INTO t_brin_data SELECT generate_series(1, 2000)",
    "CREATE FUNCTION dae_lock() RETURNS boolean LANGUAGE sql VOLATILE AS 'SELECT pg_try_advisory_lock(4243)'",
    # callable on a row as c.dae_row_lock (attribute notation)
    "CREATE FUNCTION dae_row_lock(c customers) RETURNS boolean LANGUAGE sql VOLATILE "
    "AS 'SELECT pg_try_advisory_lock(4243)'",
]


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with databases.pg_schema("tools", [*SEED, *PG_EXTRA]) as name:
        yield name


@contextmanager
def _admin_session(connection: Any) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    """One autocommit admin connection for a whole test (the corpus snapshots after every case)."""

    def query(sql: str) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    try:
        yield query
    finally:
        connection.close()


@pytest.fixture
def pg_target(pg_schema: str, tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[Target]:
    url = databases.pg_jdbc_url(pg_schema)
    connection = psycopg2.connect(databases.PG_DSN)
    connection.autocommit = True
    with _admin_session(connection) as admin:
        yield from _target("postgresql", url, pg_schema, admin, tmp_path, scheduler)


# --- MariaDB -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mysql_db() -> Iterator[str]:
    with databases.mariadb_database("tools", SEED) as name:
        yield name


@pytest.fixture
def mysql_target(mysql_db: str, tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[Target]:
    url = databases.mariadb_jdbc_url(mysql_db)
    with _admin_session(pymysql.connect(**databases.MYSQL, autocommit=True)) as admin:
        yield from _target("mysql", url, mysql_db, admin, tmp_path, scheduler)


@pytest.fixture(params=["sqlite", "pg", "mysql"])
def target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]
