"""A 500-table schema stays correct through GetTables and GetColumns; cached metadata refreshes
on SET and on a confOverlay key; the catalog's pattern and type rules on their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from TCLIService import ttypes

from engine.common.catalog import NamePattern
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import InvalidStatementError
from engine.common.types import HiveType
from engine.datasource import Datasource
from engine.datasource.catalog import Catalog, hive_column
from tests.bi.support import AGENT, Database, connect, metadata, start_bi_engine
from tests.support import databases
from tests.support.databases import PG_URL

TABLES = 500


def _create_many(engine: sqlalchemy.Engine, prefix: str) -> None:
    with engine.begin() as connection:
        for index in range(TABLES):
            connection.exec_driver_sql(
                f"CREATE TABLE {prefix}t_{index:03d} (id INTEGER, name VARCHAR(10), v DOUBLE PRECISION)"
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def many_tables(request: Any, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'many.db'}"
        engine = sqlalchemy.create_engine(url)
        _create_many(engine, "")
        engine.dispose()
        yield Database("sqlite", url, "main")
        return
    with databases.pg_schema("bi_many") as schema:
        engine = sqlalchemy.create_engine(PG_URL)
        try:
            _create_many(engine, schema + ".")
        finally:
            engine.dispose()
        yield Database("postgresql", PG_URL, schema)


def test_500_tables(start_engine: Any, tmp_path: Path, many_tables: Database) -> None:
    engine = start_bi_engine(start_engine, tmp_path, many_tables.url)
    schema = many_tables.schema
    with connect(engine) as conn:
        tables = metadata(conn, "GetTables", schemaName=schema, tableName="%").rows
        columns = metadata(conn, "GetColumns", schemaName=schema, tableName="%").rows
        again = metadata(conn, "GetColumns", schemaName=schema, tableName="%").rows  # from the cache
        some = metadata(conn, "GetColumns", schemaName=schema, tableName="t\\_42%", columnName="v").rows
    assert [row[2] for row in tables] == [f"t_{i:03d}" for i in range(TABLES)]
    assert len(columns) == 3 * TABLES and again == columns
    assert [(row[2], row[3], row[16]) for row in columns[:3]] == [
        ("t_000", "id", 1),
        ("t_000", "name", 2),
        ("t_000", "v", 3),
    ]
    assert {row[2] for row in columns} == {f"t_{i:03d}" for i in range(TABLES)}
    assert all(row[1] == schema for row in columns)
    assert [row[2] for row in some] == [
        "t_420",
        "t_421",
        "t_422",
        "t_423",
        "t_424",
        "t_425",
        "t_426",
        "t_427",
        "t_428",
        "t_429",
    ]
    assert {(row[3], row[4], row[5]) for row in some} == {("v", 8, "DOUBLE")}


def test_cached_metadata_refreshes_on_set_and_conf_overlay(
    start_engine: Any, tmp_path: Path, sqlite_db: Database
) -> None:
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url)
    direct = sqlalchemy.create_engine(sqlite_db.url)
    try:
        with connect(engine) as conn:
            before = metadata(conn, "GetTables", schemaName="main", tableName="%").rows
            with direct.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE added_later (x INTEGER)")
            cached = metadata(conn, "GetTables", schemaName="main", tableName="%").rows
            conn.cursor().execute(f"SET {AGENT}catalog.refresh=true")
            after_set = metadata(conn, "GetTables", schemaName="main", tableName="%").rows
            with direct.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE added_again (x INTEGER)")
            response = conn.client.ExecuteStatement(
                ttypes.TExecuteStatementReq(
                    sessionHandle=conn.sessionHandle,
                    statement="SHOW TABLES",
                    confOverlay={AGENT + "catalog.refresh": "true"},
                    runAsync=False,
                )
            )
            assert response.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS
            conn.client.CloseOperation(ttypes.TCloseOperationReq(operationHandle=response.operationHandle))
            after_overlay = metadata(conn, "GetTables", schemaName="main", tableName="%").rows
    finally:
        direct.dispose()
    assert [row[2] for row in cached] == [row[2] for row in before]
    assert "added_later" in [row[2] for row in after_set]
    assert "added_again" in [row[2] for row in after_overlay]


def test_catalog_patterns_cache_and_default_schema(sqlite_db: Database, scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(sqlite_db.url, scheduler=scheduler)
    try:
        catalog = Catalog(datasource, EngineConf.load([f"{AGENT}catalog.cache.ttl=PT1H"], environ={}))
        assert catalog.default_schema == "main" and catalog.resolve_schema("default") == "main"
        assert catalog.resolve_schema("MAIN") == "main" and catalog.search_schemas("default") == ["main"]
        assert [t.name for t in catalog.search_tables("%", "ORDERS")] == ["orders"]  # case-insensitive
        assert [t.name for t in catalog.search_tables(None, "order%", ["TABLE"])] == ["order_items", "orders"]
        first = catalog.tables("main")
        assert catalog.tables("main") is first  # cached
        catalog.invalidate()
        assert catalog.tables("main") is not first
        with pytest.raises(InvalidStatementError, match=r"Table not found main\.nope"):
            catalog.find_table("main", "nope")
    finally:
        datasource.close()


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("%", "anything", True), (None, "x", True), ("", "x", True), ("a_c", "abc", True), ("a_c", "abbc", False),
        ("a\\_c", "a_c", True), ("a\\_c", "abc", False), ("a\\%", "a%", True), ("a\\%", "ab", False),
        ("a.c", "abc", False), ("a.c", "a.c", True), (".*", "xyz", True), ("t*", "table", True), ("AB%", "abc", True),
    ],
)  # fmt: skip
def test_jdbc_pattern_semantics(pattern: str | None, name: str, hit: bool) -> None:
    assert NamePattern.compile(pattern).matches(name) is hit


def test_sqlalchemy_types_map_to_hive_types() -> None:
    assert hive_column("a", sqlalchemy.Integer()).type is HiveType.INT
    assert hive_column("a", sqlalchemy.BigInteger()).type is HiveType.BIGINT
    assert hive_column("a", sqlalchemy.SmallInteger()).type is HiveType.SMALLINT
    assert hive_column("a", sqlalchemy.Boolean()).type is HiveType.BOOLEAN
    decimal = hive_column("a", sqlalchemy.Numeric(12, 3))
    assert (decimal.type, decimal.precision, decimal.scale) == (HiveType.DECIMAL, 12, 3)
    assert hive_column("a", sqlalchemy.Float()).type is HiveType.DOUBLE
    assert hive_column("a", sqlalchemy.String(30)).max_length == 30
    assert hive_column("a", sqlalchemy.CHAR(2)).type is HiveType.CHAR
    assert hive_column("a", sqlalchemy.Text()).type is HiveType.STRING
    assert hive_column("a", sqlalchemy.String()).type is HiveType.STRING
    assert hive_column("a", sqlalchemy.Date()).type is HiveType.DATE
    assert hive_column("a", sqlalchemy.DateTime()).type is HiveType.TIMESTAMP
    assert hive_column("a", sqlalchemy.LargeBinary()).type is HiveType.BINARY
    assert hive_column("a", sqlalchemy.JSON()).type is HiveType.STRING
