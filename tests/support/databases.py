"""The real PostgreSQL and MariaDB servers the tests use: addresses, admin queries, and a unique
schema (PostgreSQL) or database (MariaDB) created for a test and dropped after it."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pymysql

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"  # SQLAlchemy
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"  # SQLAlchemy

Rows = list[tuple[Any, ...]]


def pg_jdbc_url(schema: str) -> str:
    return f"jdbc:postgresql://127.0.0.1:5432/test?user=postgres&currentSchema={schema}"


def mariadb_jdbc_url(database: str) -> str:
    return f"jdbc:mariadb://127.0.0.1:3306/{database}?user=root"


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (observing another process, not a sleep loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _pg_connect() -> Any:
    connection = psycopg2.connect(PG_DSN)
    connection.autocommit = True
    return connection


def _mysql_connect() -> Any:
    return pymysql.connect(**MYSQL, autocommit=True)


def _run(connection: Any, sql: str, args: tuple[object, ...]) -> Rows:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


def pg_query(sql: str, *args: object) -> Rows:
    """Run one statement as the PostgreSQL admin (autocommit); its rows, or [] when it has none."""
    return _run(_pg_connect(), sql, args)


def mysql_query(sql: str, *args: object) -> Rows:
    """Run one statement as the MariaDB admin (autocommit); its rows, or [] when it has none."""
    return _run(_mysql_connect(), sql, args)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def _scratch(
    connect: Callable[[], Any], prefix: str, create: str, enter: str, drop: str, statements: Iterable[str]
) -> Iterator[str]:
    """Create ``<prefix>_<random>``, run ``statements`` after ``enter``, yield the name, then drop
    it; ``create``, ``enter`` and ``drop`` are templates with ``{}`` for the name."""
    name = _unique(prefix)
    connection = connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(create.format(name))
            cursor.execute(enter.format(name))
            for statement in statements:
                cursor.execute(statement)
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(drop.format(name))
        connection.close()


def pg_schema(prefix: str, statements: Iterable[str] = ()) -> AbstractContextManager[str]:
    """A new schema ``<prefix>_<random>``; ``statements`` run with it first on the search path."""
    create, enter, drop = "CREATE SCHEMA {}", "SET search_path = {}", "DROP SCHEMA IF EXISTS {} CASCADE"
    return _scratch(_pg_connect, prefix, create, enter, drop, statements)


def mariadb_database(prefix: str, statements: Iterable[str] = ()) -> AbstractContextManager[str]:
    """A new database ``<prefix>_<random>``; ``statements`` run in it first."""
    create, enter, drop = "CREATE DATABASE {}", "USE {}", "DROP DATABASE IF EXISTS {}"
    return _scratch(_mysql_connect, prefix, create, enter, drop, statements)


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database; its sessions are ended before it is dropped."""
    name = _unique(prefix)
    pg_query(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        pg_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()",
            name,
        )
        pg_query(f"DROP DATABASE IF EXISTS {name}")


def shop_state(query: Callable[..., Rows], schema: str) -> tuple[int, int, list[str]]:
    """Customer and order counts and the table names in ``schema``, seen through ``query``."""
    customers = query(f"SELECT count(*) FROM {schema}.customers")[0][0]
    orders = query(f"SELECT count(*) FROM {schema}.orders")[0][0]
    tables = [
        row[0]
        for row in query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", schema
        )
    ]
    return customers, orders, tables


def sqlite_shop(path: Path) -> Path:
    """A small SQLite shop at ``path``: ``orders(id, customer, amount)`` with three rows."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL)")
        connection.executemany(
            "INSERT INTO orders (customer, amount) VALUES (?, ?)",
            [("ada", 12.5), ("bob", 30.0), ("ada", 7.25)],
        )
    return path
