"""Real databases for the datasource tests: a SQLite file, a PostgreSQL schema and a MariaDB
database, each created with a unique name for the test module and dropped afterwards."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.datasource import Datasource
from tests.conftest import free_port
from tests.support import databases

SEED = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, country VARCHAR(40))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount DECIMAL(10,2), "
    "placed DATE, note VARCHAR(100))",
    "INSERT INTO customers VALUES (1, 'Ann', 'FR'), (2, 'Bob', 'DE'), (3, 'Cy|d', NULL)",
    "INSERT INTO orders VALUES (1, 1, 10.50, '2024-01-05', 'first'), (2, 1, 20.00, '2024-02-07', NULL), "
    "(3, 2, 7.25, '2024-02-09', 'x'), (4, 3, 99.99, '2024-03-01', 'big')",
]


# --- SQLite --------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        for statement in SEED:
            connection.execute(statement)
    return path


@pytest.fixture
def sqlite_ds(sqlite_path: Path) -> Iterator[Datasource]:
    datasource = Datasource.from_url(f"jdbc:sqlite:{sqlite_path}")
    yield datasource
    datasource.close()


# --- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with databases.pg_schema("ds", [*SEED, "CREATE SEQUENCE seq"]) as name:
        yield name


@pytest.fixture
def pg_ds(pg_schema: str) -> Iterator[Datasource]:
    datasource = Datasource.from_url(databases.pg_jdbc_url(pg_schema))
    yield datasource
    datasource.close()


# --- MariaDB -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mysql_db() -> Iterator[str]:
    with databases.mariadb_database("ds", SEED) as name:
        yield name


@pytest.fixture
def mysql_ds(mysql_db: str) -> Iterator[Datasource]:
    datasource = Datasource.from_url(databases.mariadb_jdbc_url(mysql_db))
    yield datasource
    datasource.close()


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    return free_port()
