"""The type matrix: one column per database type, the value stored in it, and what every client must
read back. Row 1 of each table holds the values below, row 2 only NULLs."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Case:
    column: str
    sql_type: str  # in the table's DDL
    literal: str  # SQL literal stored in row 1
    hive: str  # the TTypeId name every client is told
    value: Any  # what PyHive reads (DATE: its text; TIMESTAMP: a naive datetime in UTC)
    pandas: str  # the dtype family in pandas (read_sql makes DECIMAL float): int, float, bool, datetime, string, object
    decimal: tuple[int, int] | None = None  # DECIMAL (precision, scale) hive-jdbc reports

    def same(self, got: Any) -> bool:
        """``got`` equals the expected value (NaN equals NaN)."""
        if isinstance(self.value, float) and math.isnan(self.value):
            return isinstance(got, float) and math.isnan(got)
        return type(got) is type(self.value) and got == self.value


def _c(
    column: str,
    sql_type: str,
    literal: str,
    hive: str,
    value: Any,
    pandas: str,
    decimal: tuple[int, int] | None = None,
) -> Case:
    return Case(column, sql_type, literal, hive + "_TYPE", value, pandas, decimal)


TS = datetime.datetime(2024, 2, 29, 13, 14, 15)
TS6 = datetime.datetime(2024, 2, 29, 13, 14, 15, 123456)

POSTGRESQL = [
    _c("c_smallint", "smallint", "7", "SMALLINT", 7, "int"),
    _c("c_int", "integer", "70000", "INT", 70000, "int"),
    _c("c_bigint", "bigint", "9000000000", "BIGINT", 9000000000, "int"),
    _c("c_real", "real", "1.5", "FLOAT", 1.5, "float"),
    _c("c_double", "double precision", "2.25", "DOUBLE", 2.25, "float"),
    _c("c_numeric", "numeric(10,3)", "12.345", "DECIMAL", Decimal("12.345"), "float", (10, 3)),
    _c(
        "c_numeric_free",
        "numeric",
        "123.4567890123",
        "DECIMAL",
        Decimal("123.4567890123"),
        "float",
        (38, 10),
    ),
    _c(
        "c_numeric_tiny",
        "numeric",
        "0.000000000000000000000000123",
        "DECIMAL",
        Decimal("1.23E-25"),
        "float",
        (38, 27),
    ),
    _c("c_numeric_nan", "numeric", "'NaN'", "DOUBLE", math.nan, "float"),
    _c("c_numeric_huge", "numeric", "1" + "0" * 42 + ".5", "DOUBLE", 1e42, "float"),
    _c("c_boolean", "boolean", "true", "BOOLEAN", True, "bool"),
    _c("c_text", "text", "'text'", "STRING", "text", "string"),
    _c("c_varchar", "varchar(10)", "'vc'", "STRING", "vc", "string"),
    _c("c_char", "char(3)", "'ab'", "STRING", "ab ", "string"),
    _c("c_date", "date", "'2024-02-29'", "DATE", "2024-02-29", "string"),
    _c("c_timestamp", "timestamp(6)", "'2024-02-29 13:14:15.123456'", "TIMESTAMP", TS6, "datetime"),
    # the same instant in UTC, without the offset (hive-jdbc rejects one)
    _c(
        "c_timestamptz",
        "timestamptz",
        "'2024-02-29 13:14:15.5+02'",
        "TIMESTAMP",
        TS.replace(hour=11, microsecond=500000),
        "datetime",
    ),
    _c("c_time", "time", "'10:11:12'", "STRING", "10:11:12", "string"),
    _c("c_timetz", "timetz", "'10:11:12+02'", "STRING", "10:11:12+02:00", "string"),
    _c("c_interval", "interval", "'1 day 02:03:04.5'", "STRING", "1 day 02:03:04.5", "string"),
    _c("c_interval_neg", "interval", "'-3 hours'", "STRING", "-03:00:00", "string"),
    _c(
        "c_uuid",
        "uuid",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
        "STRING",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "string",
    ),
    _c("c_json", "json", """'{"a": [1, 2.5]}'""", "STRING", '{"a":[1,2.5]}', "string"),
    _c("c_jsonb", "jsonb", """'{"b": null}'""", "STRING", '{"b":null}', "string"),
    _c("c_int_array", "integer[]", "'{1,2,3}'", "STRING", "[1,2,3]", "string"),
    _c("c_text_array", "text[]", """'{"x","y"}'""", "STRING", '["x","y"]', "string"),
    _c("c_numeric_array", "numeric[]", "'{1.5,2}'", "STRING", "[1.5,2]", "string"),
    _c("c_bytea", "bytea", "'\\xdeadbeef'", "BINARY", b"\xde\xad\xbe\xef", "object"),
    _c("c_bit", "bit(3)", "B'101'", "STRING", "101", "string"),
    _c("c_money", "money", "1234.5", "STRING", "$1,234.50", "string"),
    _c("c_enum", "mood", "'happy'", "STRING", "happy", "string"),
    _c("c_inet", "inet", "'10.0.0.1'", "STRING", "10.0.0.1", "string"),
    _c("c_oid", "oid", "26", "BIGINT", 26, "int"),
    _c("c_xml", "xml", "'<a/>'", "STRING", "<a/>", "string"),
]
POSTGRESQL_SETUP = ["CREATE TYPE mood AS ENUM ('happy', 'sad')"]

MARIADB = [
    _c("c_tinyint", "TINYINT", "-5", "TINYINT", -5, "int"),
    _c("c_tinyint_unsigned", "TINYINT UNSIGNED", "250", "SMALLINT", 250, "int"),
    _c("c_smallint", "SMALLINT", "-300", "SMALLINT", -300, "int"),
    _c("c_mediumint", "MEDIUMINT", "8000000", "INT", 8000000, "int"),
    _c("c_int", "INT", "70000", "INT", 70000, "int"),
    _c("c_int_unsigned", "INT UNSIGNED", "4000000000", "BIGINT", 4000000000, "int"),
    _c("c_bigint", "BIGINT", "9000000000", "BIGINT", 9000000000, "int"),
    # past BIGINT: DECIMAL(20, 0)
    _c(
        "c_bigint_unsigned",
        "BIGINT UNSIGNED",
        "18446744073709551615",
        "DECIMAL",
        Decimal(2**64 - 1),
        "float",
        (20, 0),
    ),
    _c("c_float", "FLOAT", "1.5", "FLOAT", 1.5, "float"),
    _c("c_double", "DOUBLE", "2.25", "DOUBLE", 2.25, "float"),
    _c("c_decimal", "DECIMAL(12,4)", "12.3456", "DECIMAL", Decimal("12.3456"), "float", (12, 4)),
    _c("c_decimal_wide", "DECIMAL(65,30)", "1.5", "DECIMAL", Decimal("1.5"), "float", (38, 30)),
    _c("c_bit1", "BIT(1)", "b'1'", "BOOLEAN", True, "bool"),
    _c("c_bit", "BIT(10)", "b'1010101010'", "SMALLINT", 682, "int"),
    _c("c_bit64", "BIT(64)", "b'" + "1" * 64 + "'", "DECIMAL", Decimal(2**64 - 1), "float", (20, 0)),
    _c("c_year", "YEAR", "2024", "INT", 2024, "int"),
    _c("c_date", "DATE", "'2024-02-29'", "DATE", "2024-02-29", "string"),
    _c("c_datetime", "DATETIME", "'2024-02-29 13:14:15'", "TIMESTAMP", TS, "datetime"),
    _c("c_datetime6", "DATETIME(6)", "'2024-02-29 13:14:15.123456'", "TIMESTAMP", TS6, "datetime"),
    _c("c_timestamp", "TIMESTAMP NULL", "'2024-02-29 13:14:15'", "TIMESTAMP", TS, "datetime"),
    _c("c_time", "TIME", "'-838:59:59'", "STRING", "-838:59:59", "string"),
    _c("c_char", "CHAR(3)", "'ab'", "STRING", "ab", "string"),
    _c("c_varchar", "VARCHAR(10)", "'vc'", "STRING", "vc", "string"),
    _c("c_text", "TEXT", "'text'", "STRING", "text", "string"),
    _c("c_enum", "ENUM('happy','sad')", "'happy'", "STRING", "happy", "string"),
    _c("c_set", "SET('a','b')", "'a,b'", "STRING", "a,b", "string"),
    _c("c_json", "JSON", """'{"k": [1, 2]}'""", "STRING", '{"k": [1, 2]}', "string"),
    _c("c_blob", "BLOB", "0xDEADBEEF", "BINARY", b"\xde\xad\xbe\xef", "object"),
    _c("c_varbinary", "VARBINARY(10)", "0x00FF", "BINARY", b"\x00\xff", "object"),
    _c("c_boolean", "BOOLEAN", "TRUE", "TINYINT", 1, "int"),
]

SQLITE = [
    _c("c_integer", "INTEGER", "42", "BIGINT", 42, "int"),
    _c("c_big", "INTEGER", "9223372036854775807", "BIGINT", 2**63 - 1, "int"),
    _c("c_real", "REAL", "1.5", "DOUBLE", 1.5, "float"),
    _c("c_numeric", "NUMERIC", "12.5", "DOUBLE", 12.5, "float"),
    _c("c_text", "TEXT", "'text'", "STRING", "text", "string"),
    _c("c_blob", "BLOB", "x'DEADBEEF'", "BINARY", b"\xde\xad\xbe\xef", "object"),
    _c("c_boolean", "BOOLEAN", "1", "BIGINT", 1, "int"),
    _c("c_date", "DATE", "'2024-02-29'", "STRING", "2024-02-29", "string"),
    _c("c_untyped", "", "'x'", "STRING", "x", "string"),
]


def ddl(cases: list[Case]) -> str:
    columns = ", ".join(f"{case.column} {case.sql_type}".strip() for case in cases)
    return f"CREATE TABLE types (k INTEGER PRIMARY KEY, {columns})"


def inserts(cases: list[Case]) -> list[str]:
    names = ", ".join(case.column for case in cases)
    values = ", ".join(case.literal for case in cases)
    nulls = ", ".join("NULL" for _ in cases)
    return [
        f"INSERT INTO types (k, {names}) VALUES (1, {values})",
        f"INSERT INTO types (k, {names}) VALUES (2, {nulls})",
    ]
