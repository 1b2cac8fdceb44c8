"""Every metadata RPC over the wire (PyHive's Thrift client): exact column names and types as
the Hive JDBC driver reads them, and rows from the real catalog of SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bi.support import Database, connect, metadata, metadata_error

S, I, SI, TI, B = "STRING_TYPE", "INT_TYPE", "SMALLINT_TYPE", "TINYINT_TYPE", "BOOLEAN_TYPE"  # noqa: E741

EXPECTED = {
    "GetCatalogs": [("TABLE_CAT", S)],
    "GetSchemas": [("TABLE_SCHEM", S), ("TABLE_CATALOG", S)],
    "GetTableTypes": [("TABLE_TYPE", S)],
    "GetTables": [
        ("TABLE_CAT", S), ("TABLE_SCHEM", S), ("TABLE_NAME", S), ("TABLE_TYPE", S), ("REMARKS", S),
        ("TYPE_CAT", S), ("TYPE_SCHEM", S), ("TYPE_NAME", S), ("SELF_REFERENCING_COL_NAME", S),
        ("REF_GENERATION", S),
    ],
    "GetColumns": [
        ("TABLE_CAT", S), ("TABLE_SCHEM", S), ("TABLE_NAME", S), ("COLUMN_NAME", S), ("DATA_TYPE", I),
        ("TYPE_NAME", S), ("COLUMN_SIZE", I), ("BUFFER_LENGTH", TI), ("DECIMAL_DIGITS", I),
        ("NUM_PREC_RADIX", I), ("NULLABLE", I), ("REMARKS", S), ("COLUMN_DEF", S), ("SQL_DATA_TYPE", I),
        ("SQL_DATETIME_SUB", I), ("CHAR_OCTET_LENGTH", I), ("ORDINAL_POSITION", I), ("IS_NULLABLE", S),
        ("SCOPE_CATALOG", S), ("SCOPE_SCHEMA", S), ("SCOPE_TABLE", S), ("SOURCE_DATA_TYPE", SI),
        ("IS_AUTO_INCREMENT", S),
    ],
    "GetTypeInfo": [
        ("TYPE_NAME", S), ("DATA_TYPE", I), ("PRECISION", I), ("LITERAL_PREFIX", S), ("LITERAL_SUFFIX", S),
        ("CREATE_PARAMS", S), ("NULLABLE", SI), ("CASE_SENSITIVE", B), ("SEARCHABLE", SI),
        ("UNSIGNED_ATTRIBUTE", B), ("FIXED_PREC_SCALE", B), ("AUTO_INCREMENT", B), ("LOCAL_TYPE_NAME", S),
        ("MINIMUM_SCALE", SI), ("MAXIMUM_SCALE", SI), ("SQL_DATA_TYPE", I), ("SQL_DATETIME_SUB", I),
        ("NUM_PREC_RADIX", I),
    ],
    "GetFunctions": [
        ("FUNCTION_CAT", S), ("FUNCTION_SCHEM", S), ("FUNCTION_NAME", S), ("REMARKS", S), ("FUNCTION_TYPE", I),
        ("SPECIFIC_NAME", S),
    ],
    "GetPrimaryKeys": [
        ("TABLE_CAT", S), ("TABLE_SCHEM", S), ("TABLE_NAME", S), ("COLUMN_NAME", S), ("KEY_SEQ", I),
        ("PK_NAME", S),
    ],
    "GetCrossReference": [
        ("PKTABLE_CAT", S), ("PKTABLE_SCHEM", S), ("PKTABLE_NAME", S), ("PKCOLUMN_NAME", S), ("FKTABLE_CAT", S),
        ("FKTABLE_SCHEM", S), ("FKTABLE_NAME", S), ("FKCOLUMN_NAME", S), ("KEQ_SEQ", I), ("UPDATE_RULE", I),
        ("DELETE_RULE", I), ("FK_NAME", S), ("PK_NAME", S), ("DEFERRABILITY", I),
    ],
}  # fmt: skip
OP_TYPES = {  # TOperationType, as HiveServer2 reports it
    "GetCatalogs": 2, "GetSchemas": 3, "GetTableTypes": 5, "GetTables": 4, "GetColumns": 6, "GetTypeInfo": 1,
    "GetFunctions": 7, "GetPrimaryKeys": 7, "GetCrossReference": 7,
}  # fmt: skip


def _arguments(rpc: str, schema: str) -> dict[str, Any]:
    return {
        "GetSchemas": {"schemaName": "%"},
        "GetTables": {"schemaName": schema, "tableName": "%"},
        "GetColumns": {"schemaName": schema, "tableName": "orders"},
        "GetFunctions": {"functionName": "%"},
        "GetPrimaryKeys": {"schemaName": schema, "tableName": "orders"},
        "GetCrossReference": {
            "parentSchemaName": schema, "parentTableName": "orders",
            "foreignSchemaName": schema, "foreignTableName": "order_items",
        },
    }.get(rpc, {})  # fmt: skip


@pytest.mark.parametrize("rpc", list(EXPECTED))
def test_every_rpc_has_the_hive_result_schema(bi_engine: Any, database: Database, rpc: str) -> None:
    with connect(bi_engine) as conn:
        result = metadata(conn, rpc, **_arguments(rpc, database.schema))
    assert result.columns == EXPECTED[rpc]
    assert result.op_type == OP_TYPES[rpc]
    for row in result.rows:
        assert len(row) == len(EXPECTED[rpc])


def test_schemas_tables_and_types(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        schemas = metadata(conn, "GetSchemas", schemaName="%").rows
        tables = metadata(conn, "GetTables", schemaName=database.schema, tableName="%").rows
        views = metadata(
            conn, "GetTables", schemaName=database.schema, tableName="%", tableTypes=["VIEW"]
        ).rows
        types = metadata(conn, "GetTableTypes").rows
        catalogs = metadata(conn, "GetCatalogs").rows
    assert (database.schema, "") in schemas
    assert not any(name in ("information_schema", "pg_catalog", "mysql") for name, _ in schemas)
    assert [(row[1], row[2], row[3]) for row in tables] == [
        (database.schema, "big_orders", "VIEW"),
        (database.schema, "order_items", "TABLE"),
        (database.schema, "orders", "TABLE"),
    ]
    assert [row[2] for row in views] == ["big_orders"]
    assert types == [("TABLE",), ("VIEW",)]
    assert catalogs == []


def test_columns_carry_jdbc_types(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        rows = metadata(
            conn, "GetColumns", schemaName=database.schema, tableName="orders", columnName="%"
        ).rows
    by_name = {row[3]: row for row in rows}
    assert [row[3] for row in rows] == [
        "id", "customer", "amount", "quantity", "price", "paid", "ordered_on", "created_at", "note"
    ]  # fmt: skip
    assert [row[16] for row in rows] == list(range(1, 10))  # ORDINAL_POSITION
    assert all(row[1] == database.schema and row[2] == "orders" and row[0] is None for row in rows)
    assert by_name["id"][4] == 4 and by_name["id"][5] == "INT"  # java.sql.Types.INTEGER
    assert by_name["quantity"][4] == -5 and by_name["quantity"][5] == "BIGINT"
    assert by_name["amount"][4] == 3 and by_name["amount"][5] == "DECIMAL(10,2)"
    assert by_name["amount"][6] == 10 and by_name["amount"][8] == 2  # COLUMN_SIZE, DECIMAL_DIGITS
    assert by_name["price"][4] == 8 and by_name["price"][5] == "DOUBLE"
    assert by_name["customer"][4] == 12 and by_name["customer"][5] == "VARCHAR(40)"
    assert by_name["customer"][6] == 40
    assert by_name["customer"][10] == 0 and by_name["customer"][17] == "NO"  # NOT NULL
    assert by_name["note"][10] == 1 and by_name["note"][17] == "YES"
    assert by_name["ordered_on"][4] == 91 and by_name["created_at"][4] == 93
    if database.kind == "mariadb":  # BOOLEAN is TINYINT(1) there
        assert by_name["paid"][4] == -6
    else:
        assert by_name["paid"][4] == 16 and by_name["paid"][5] == "BOOLEAN"


def test_jdbc_patterns_with_escapes(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        underscore = metadata(conn, "GetTables", schemaName=database.schema, tableName="order_items").rows
        one_char = metadata(conn, "GetTables", schemaName=database.schema, tableName="order_item_").rows
        escaped = metadata(conn, "GetTables", schemaName=database.schema, tableName="order\\_%").rows
        prefix = metadata(conn, "GetTables", schemaName=database.schema, tableName="ord%").rows
        columns = metadata(
            conn, "GetColumns", schemaName=database.schema, tableName="%", columnName="%\\_on"
        ).rows
        nothing = metadata(conn, "GetTables", schemaName=database.schema, tableName="orders\\%").rows
        schema_pattern = metadata(conn, "GetSchemas", schemaName=database.schema[:-1] + "_").rows
    assert [row[2] for row in underscore] == ["order_items"]
    assert [row[2] for row in one_char] == ["order_items"]
    assert [row[2] for row in escaped] == ["order_items"]
    assert [row[2] for row in prefix] == ["order_items", "orders"]
    assert [(row[2], row[3]) for row in columns] == [("orders", "ordered_on")]
    assert nothing == []
    assert [row[0] for row in schema_pattern] == [database.schema]


def test_keys(bi_engine: Any, database: Database) -> None:
    with connect(bi_engine) as conn:
        pk = metadata(conn, "GetPrimaryKeys", schemaName=database.schema, tableName="order_items").rows
        refs = metadata(
            conn, "GetCrossReference", parentSchemaName=database.schema, parentTableName="orders",
            foreignSchemaName=database.schema, foreignTableName="order_items",
        ).rows  # fmt: skip
        missing = metadata_error(conn, "GetPrimaryKeys", schemaName=database.schema, tableName="nope")
    assert [(row[2], row[3], row[4]) for row in pk] == [
        ("order_items", "order_id", 1),
        ("order_items", "line_no", 2),
    ]
    if database.kind != "mariadb":  # MariaDB may ignore column-level REFERENCES
        assert [(row[2], row[3], row[6], row[7], row[8]) for row in refs] == [
            ("orders", "id", "order_items", "order_id", 1)
        ]
    assert "Table not found" in missing


def test_type_info_lists_hive_types(bi_engine: Any) -> None:
    with connect(bi_engine) as conn:
        rows = metadata(conn, "GetTypeInfo").rows
    by_name = {row[0]: row for row in rows}
    assert by_name["INT"][1] == 4 and by_name["BIGINT"][1] == -5 and by_name["STRING"][1] == 12
    assert by_name["DECIMAL"][1] == 3 and by_name["DECIMAL"][2] == 38 and by_name["TIMESTAMP"][1] == 93
    assert by_name["STRING"][7] is True and by_name["INT"][7] is False  # CASE_SENSITIVE
