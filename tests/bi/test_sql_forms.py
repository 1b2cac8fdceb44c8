"""Hive's SQL-text metadata forms (what PyHive's SQLAlchemy dialect sends), impyla's metadata
calls, and ``__sql:`` passthrough with typed columns: none of them reaches the LLM."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
import sqlalchemy
from impala.dbapi import connect as impyla_connect
from pyhive.exc import OperationalError
from pyhive.sqlalchemy_hive import _type_map as HIVE_TYPES

from tests.bi.support import Database, connect


def test_show_and_describe_in_hive_shapes(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW SCHEMAS")
        assert [d[:2] for d in cursor.description] == [("database_name", "STRING_TYPE")]
        assert (database.schema,) in cursor.fetchall()
        cursor.execute(f"SHOW TABLES IN `{database.schema}`")
        assert [d[:2] for d in cursor.description] == [("tab_name", "STRING_TYPE")]
        assert cursor.fetchall() == [("big_orders",), ("order_items",), ("orders",)]
        cursor.execute(f"SHOW TABLES IN {database.schema} LIKE 'order*'")
        assert cursor.fetchall() == [("order_items",), ("orders",)]
        cursor.execute(f"DESCRIBE {database.schema}.orders")
        assert [d[0] for d in cursor.description] == ["col_name", "data_type", "comment"]
        rows = cursor.fetchall()
    types = {name: data_type for name, data_type, _comment in rows}
    assert list(types) == [
        "id", "customer", "amount", "quantity", "price", "paid", "ordered_on", "created_at", "note"
    ]  # fmt: skip
    assert types["id"] == "int" and types["amount"] == "decimal(10,2)" and types["customer"] == "varchar(40)"
    assert types["quantity"] == "bigint" and types["price"] == "double" and types["ordered_on"] == "date"
    assert types["created_at"] == "timestamp" and types["note"] == "string"


def test_default_database_is_the_datasource_default(
    start_engine: Any, tmp_path: Any, sqlite_db: Database
) -> None:
    from tests.bi.support import start_bi_engine

    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url)
    with connect(engine) as conn:  # PyHive runs USE `default` on connect
        cursor = conn.cursor()
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == [("big_orders",), ("order_items",), ("orders",)]
        cursor.execute("DESCRIBE order_items")
        assert [row[0] for row in cursor.fetchall()] == ["order_id", "line_no", "sku"]


def test_describe_unknown_table_is_a_hive_style_error(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        cursor = conn.cursor()
        with pytest.raises(OperationalError) as caught:
            cursor.execute(f"DESCRIBE {database.schema}.no_such_table")
    assert f"SemanticException [Error 10001]: Table not found {database.schema}.no_such_table" in str(
        caught.value
    )


def test_sqlalchemy_hive_dialect_inspects_the_real_catalog(bi_engine: Any, database: Database) -> None:
    engine = sqlalchemy.create_engine(f"hive://alice@{bi_engine.host}:{bi_engine.port}/default")
    try:
        inspector = sqlalchemy.inspect(engine)
        assert database.schema in inspector.get_schema_names()
        assert inspector.get_table_names(schema=database.schema) == ["big_orders", "order_items", "orders"]
        columns = inspector.get_columns("orders", schema=database.schema)
        assert [c["name"] for c in columns][:3] == ["id", "customer", "amount"]
        kinds = {c["name"]: type(c["type"]) for c in columns}
        expected = {
            "id": "int",
            "quantity": "bigint",
            "amount": "decimal",
            "price": "double",
            "ordered_on": "date",
            "created_at": "timestamp",
            "note": "string",
            "customer": "varchar",
        }
        for name, hive_name in expected.items():  # each Hive type name maps to its SQLAlchemy type
            assert kinds[name] is HIVE_TYPES[hive_name], (name, kinds[name])
        assert inspector.has_table("orders", schema=database.schema)
        assert not inspector.has_table("no_such_table", schema=database.schema)
    finally:
        engine.dispose()


def test_impyla_metadata_calls(bi_engine: Any, database: Database) -> None:
    conn = impyla_connect(bi_engine.host, bi_engine.port, auth_mechanism="PLAIN", user="alice", password="x")
    try:
        cursor = conn.cursor()
        cursor.get_tables(database_name=database.schema)
        tables = cursor.fetchall()
        names = [row[2] for row in tables]
        assert names == ["big_orders", "order_items", "orders"]
        schema = cursor.get_table_schema("order_items", database_name=database.schema)
        assert [name for name, _type in schema] == ["order_id", "line_no", "sku"]
        assert dict(schema)["order_id"] == "INT" and dict(schema)["sku"] == "VARCHAR(20)"
        cursor.get_databases()
        assert (database.schema, "") in [tuple(row) for row in cursor.fetchall()]
        cursor.close()
    finally:
        conn.close()


def test_sql_passthrough_returns_typed_columns(bi_engine: Any, database: Database) -> None:
    table = f"{database.schema}.orders" if database.kind != "sqlite" else "orders"
    sql = f"__sql: SELECT id, customer, amount, quantity, price, ordered_on, created_at FROM {table} ORDER BY id"
    with connect(bi_engine) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        description = [d[:2] for d in cursor.description]
        rows = cursor.fetchall()
    assert description[0][0] == "id" and description[1] == ("customer", "STRING_TYPE")
    assert description[3] in (("quantity", "BIGINT_TYPE"), ("quantity", "INT_TYPE"))
    assert description[4] == ("price", "DOUBLE_TYPE")
    assert [row[0] for row in rows] == [1, 2, 3]
    assert rows[0][1] == "ada" and rows[0][3] == 3 and rows[0][4] == 4.25
    assert rows[2][2:] == (None, None, None, None, None)
    assert decimal.Decimal(str(rows[0][2])) == decimal.Decimal("12.50")
    assert str(rows[0][5]).startswith("2024-01-05")
    assert str(rows[1][6]).startswith(str(datetime.datetime(2024, 2, 1, 8, 0, 0)))


def test_sql_passthrough_is_read_only_and_errors_clearly(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        cursor = conn.cursor()
        with pytest.raises(OperationalError) as caught:
            cursor.execute("__sql: SELECT * FROM no_such_table_here")
        assert "no_such_table_here" in str(caught.value)
        with pytest.raises(OperationalError):
            cursor.execute("__sql:   ")


def test_sql_passthrough_refuses_writes(bi_engine: Any, database: Database) -> None:
    table = f"{database.schema}.orders" if database.kind != "sqlite" else "orders"
    with connect(bi_engine) as conn:
        cursor = conn.cursor()
        for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET note = 'x'", f"DROP TABLE {table}"):
            with pytest.raises(OperationalError):
                cursor.execute("__sql: " + statement)
        cursor.execute(f"__sql: SELECT COUNT(*) AS n FROM {table}")
        assert cursor.fetchall() == [(3,)]
