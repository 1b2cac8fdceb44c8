"""Real databases for the tools tests (a SQLite file, a PostgreSQL schema, a MariaDB database,
each with a unique name, dropped afterwards) and registries over them."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pymysql
import pytest

from engine.common.cancel import CancelToken
from engine.common.config import EngineConf
from engine.datasource import Datasource
from engine.tools import ToolContext, ToolRegistry

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}

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


# --- SQLite --------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_target(tmp_path: Path) -> Iterator[Target]:
    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "shop.db"  # alone in its folder: the corpus checks no file appears
    with sqlite3.connect(path) as connection:
        for statement in SEED:
            connection.execute(statement)

    def admin(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as connection:
            return list(connection.execute(sql).fetchall())

    conf = make_conf(**{"jdbc.url": f"jdbc:sqlite:{path}"})
    datasource = Datasource.from_conf(conf)
    registry = ToolRegistry.default(datasource, conf)
    yield Target("sqlite", datasource, registry, tmp_path / "work", str(path), admin, conf)
    registry.close()
    datasource.close()


# --- PostgreSQL ----------------------------------------------------------------------------------
def pg_admin(sql: str, *args: object) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(PG_DSN)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    name = f"tools_{uuid.uuid4().hex[:10]}"
    connection = psycopg2.connect(PG_DSN)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {name}")
        cursor.execute(f"SET search_path = {name}")
        for statement in SEED:
            cursor.execute(statement)
        cursor.execute("CREATE SEQUENCE seq")
        cursor.execute("SELECT nextval('seq')")
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {name} CASCADE")
        connection.close()


@pytest.fixture
def pg_target(pg_schema: str, tmp_path: Path) -> Iterator[Target]:
    conf = make_conf(
        **{"jdbc.url": f"jdbc:postgresql://127.0.0.1:5432/test?user=postgres&currentSchema={pg_schema}"}
    )
    datasource = Datasource.from_conf(conf)
    registry = ToolRegistry.default(datasource, conf)
    yield Target("postgresql", datasource, registry, tmp_path / "work", pg_schema, pg_admin, conf)
    registry.close()
    datasource.close()


# --- MariaDB -------------------------------------------------------------------------------------
def mysql_admin(sql: str) -> list[tuple[Any, ...]]:
    connection = pymysql.connect(**MYSQL, autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def mysql_db() -> Iterator[str]:
    name = f"tools_{uuid.uuid4().hex[:10]}"
    connection = pymysql.connect(**MYSQL, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.execute(f"USE {name}")
        for statement in SEED:
            cursor.execute(statement)
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name}")
        connection.close()


@pytest.fixture
def mysql_target(mysql_db: str, tmp_path: Path) -> Iterator[Target]:
    conf = make_conf(**{"jdbc.url": f"jdbc:mariadb://127.0.0.1:3306/{mysql_db}?user=root"})
    datasource = Datasource.from_conf(conf)
    registry = ToolRegistry.default(datasource, conf)
    yield Target("mysql", datasource, registry, tmp_path / "work", mysql_db, mysql_admin, conf)
    registry.close()
    datasource.close()


@pytest.fixture(params=["sqlite", "pg", "mysql"])
def target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]
