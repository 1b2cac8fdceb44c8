"""Real databases for the datasource tests: a SQLite file, a PostgreSQL schema and a MariaDB
database, each created with a unique name for the test module and dropped afterwards."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pymysql
import pytest

from engine.datasource import Datasource

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}

SEED = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, country VARCHAR(40))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount DECIMAL(10,2), "
    "placed DATE, note VARCHAR(100))",
    "INSERT INTO customers VALUES (1, 'Ann', 'FR'), (2, 'Bob', 'DE'), (3, 'Cy|d', NULL)",
    "INSERT INTO orders VALUES (1, 1, 10.50, '2024-01-05', 'first'), (2, 1, 20.00, '2024-02-07', NULL), "
    "(3, 2, 7.25, '2024-02-09', 'x'), (4, 3, 99.99, '2024-03-01', 'big')",
]


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (observing another process, not a sleep loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


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
    name = f"ds_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_DSN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {name}")
        cursor.execute(f"SET search_path = {name}")
        for statement in SEED:
            cursor.execute(statement)
        cursor.execute("CREATE SEQUENCE seq")
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {name} CASCADE")
        admin.close()


@pytest.fixture
def pg_ds(pg_schema: str) -> Iterator[Datasource]:
    datasource = Datasource.from_url(
        f"jdbc:postgresql://127.0.0.1:5432/test?user=postgres&currentSchema={pg_schema}"
    )
    yield datasource
    datasource.close()


def pg_admin_query(sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg2.connect(PG_DSN) as admin, admin.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


# --- MariaDB -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mysql_db() -> Iterator[str]:
    name = f"ds_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**MYSQL, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.execute(f"USE {name}")
        for statement in SEED:
            cursor.execute(statement)
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name}")
        admin.close()


@pytest.fixture
def mysql_ds(mysql_db: str) -> Iterator[Datasource]:
    datasource = Datasource.from_url(f"jdbc:mariadb://127.0.0.1:3306/{mysql_db}?user=root")
    yield datasource
    datasource.close()


def mysql_admin_query(sql: str, *args: object) -> list[tuple[object, ...]]:
    admin = pymysql.connect(**MYSQL, autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        admin.close()


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
