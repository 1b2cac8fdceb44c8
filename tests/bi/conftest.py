"""Fixtures for the BI tests: one database per test on each backend, an engine over it, the fake LLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bi.support import Database, mariadb_database, postgres_database, sqlite_database, start_bi_engine
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request: Any, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield from sqlite_database(tmp_path)
    elif request.param == "postgresql":
        yield from postgres_database()
    else:
        yield from mariadb_database()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    yield from sqlite_database(tmp_path)


@pytest.fixture
def bi_engine(start_engine: Any, tmp_path: Path, database: Database) -> Any:
    return start_bi_engine(start_engine, tmp_path, database.url)


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server
