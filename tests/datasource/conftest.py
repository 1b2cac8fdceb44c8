"""Real databases for the datasource tests: a SQLite file, a PostgreSQL schema and a MariaDB
database, each created with a unique name for the test module and dropped afterwards."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.common.deadline import DeadlineScheduler
from engine.datasource import Datasource
from tests.conftest import free_port
from tests.datasource.shop import SEED
from tests.support import databases


def _opened(url: str, scheduler: DeadlineScheduler) -> Iterator[Datasource]:
    datasource = Datasource.from_url(url, scheduler=scheduler)
    yield datasource
    datasource.close()


# --- SQLite --------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        for statement in SEED:
            connection.execute(statement)
    return path


@pytest.fixture
def sqlite_ds(sqlite_path: Path, scheduler: DeadlineScheduler) -> Iterator[Datasource]:
    yield from _opened(f"jdbc:sqlite:{sqlite_path}", scheduler)


# --- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with databases.pg_schema("ds", [*SEED, "CREATE SEQUENCE seq"]) as name:
        yield name


@pytest.fixture
def pg_ds(pg_schema: str, scheduler: DeadlineScheduler) -> Iterator[Datasource]:
    yield from _opened(databases.pg_jdbc_url(pg_schema), scheduler)


# --- MariaDB -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mysql_db() -> Iterator[str]:
    with databases.mariadb_database("ds", SEED) as name:
        yield name


@pytest.fixture
def mysql_ds(mysql_db: str, scheduler: DeadlineScheduler) -> Iterator[Datasource]:
    yield from _opened(databases.mariadb_jdbc_url(mysql_db), scheduler)


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    return free_port()
