"""Every column type SQLite, PostgreSQL and MariaDB return reaches hive-jdbc, PyHive and pandas as a
valid Hive value, through ``__sql:`` and through table mode (a question whose scripted LLM reads
the same table). hive-jdbc runs through JayDeBeApi in a process of its own (``jdbc_probe``)."""

from __future__ import annotations

import datetime
import json
import math
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy
from pyhive import hive

from tests.agent.e2e import AGENT, engine_conf
from tests.fakes.openai_server import text, tool
from tests.support import databases
from tests.support.hs2clients import PASSWORD, hive_jdbc_classpath, jdbc_url, needs_lab
from tests.types import cases
from tests.types.cases import Case

SELECT = "SELECT * FROM types ORDER BY k"


@dataclass(frozen=True)
class Database:
    name: str
    jdbc_url: str
    cases: list[Case]


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The ``types`` table (row 1: a value of each type, row 2: NULLs) in a scratch database."""
    name = request.param
    if name == "sqlite":
        path = tmp_path_factory.mktemp("types") / "types.sqlite"
        with sqlite3.connect(path) as connection:
            for statement in [cases.ddl(cases.SQLITE), *cases.inserts(cases.SQLITE)]:
                connection.execute(statement)
        yield Database(name, f"jdbc:sqlite:{path}", cases.SQLITE)
    elif name == "postgresql":
        setup = [*cases.POSTGRESQL_SETUP, cases.ddl(cases.POSTGRESQL), *cases.inserts(cases.POSTGRESQL)]
        with databases.pg_schema("types", setup) as schema:
            yield Database(name, databases.pg_jdbc_url(schema), cases.POSTGRESQL)
    else:
        setup = [cases.ddl(cases.MARIADB), *cases.inserts(cases.MARIADB)]
        with databases.mariadb_database("types", setup) as db:
            yield Database(name, databases.mariadb_jdbc_url(db), cases.MARIADB)


@pytest.fixture
def engine(start_engine: Any, database: Database) -> Any:
    return start_engine({AGENT + "jdbc.url": database.jdbc_url})


def _pyhive(
    engine: Any, statement: str, configuration: dict[str, str] | None = None
) -> tuple[list[str], list[Any]]:
    """(column type names, rows) as PyHive reads them."""
    with hive.connect(engine.host, engine.port, username="types", configuration=configuration) as conn:
        cursor = conn.cursor()
        cursor.execute(statement)
        rows = cursor.fetchall()
        return [column[1] for column in cursor.description], rows


def _check_row(database: Database, types: list[str], rows: list[Any], client: str) -> None:
    assert len(rows) == 2, rows
    assert types[1:] == [case.hive for case in database.cases], client
    values, nulls = rows[0][1:], rows[1][1:]
    wrong = [
        (case.column, case.value, got)
        for case, got in zip(database.cases, values, strict=True)
        if not case.same(got)
    ]
    assert wrong == [], f"{client} read these values wrong (column, expected, got)"
    assert list(nulls) == [None] * len(database.cases)


@pytest.mark.timeout(60)
def test_pyhive_reads_every_type(engine: Any, database: Database) -> None:
    types, rows = _pyhive(engine, "__sql: " + SELECT)
    _check_row(database, types, rows, "PyHive")


# --- hive-jdbc ------------------------------------------------------------------------------------
_JAVA_CLASSES = {
    "BOOLEAN_TYPE": "java.lang.Boolean",
    "TINYINT_TYPE": "java.lang.Byte",
    "SMALLINT_TYPE": "java.lang.Short",
    "INT_TYPE": "java.lang.Integer",
    "BIGINT_TYPE": "java.lang.Long",
    "FLOAT_TYPE": "java.lang.Double",  # hive-jdbc reads FLOAT from the double column it travels in
    "DOUBLE_TYPE": "java.lang.Double",
    "DECIMAL_TYPE": "java.math.BigDecimal",
    "STRING_TYPE": "java.lang.String",
    "DATE_TYPE": "java.sql.Date",
    "TIMESTAMP_TYPE": "java.sql.Timestamp",
    "BINARY_TYPE": "byte[]",
}


def _java_timestamp(value: datetime.datetime) -> str:
    """``java.sql.Timestamp.toString()``: at least one fraction digit, no trailing zeros."""
    return f"{value:%Y-%m-%d %H:%M:%S}." + (f"{value.microsecond:06d}".rstrip("0") or "0")


def _java_matches(case: Case, got: dict[str, str]) -> bool:
    """hive-jdbc's ``getObject`` gave the Java object the case expects."""
    if got["class"] != _JAVA_CLASSES[case.hive]:
        return False
    value, text_ = case.value, got["text"]
    if case.hive in ("FLOAT_TYPE", "DOUBLE_TYPE"):
        return case.same(float(text_))
    if case.hive == "DECIMAL_TYPE":
        return Decimal(text_) == value
    if case.hive == "TIMESTAMP_TYPE":
        return text_ == _java_timestamp(value)
    if case.hive == "BINARY_TYPE":
        return text_ == value.hex()
    if case.hive == "BOOLEAN_TYPE":
        return text_ == str(value).lower()
    return text_ == str(value)


def _jaydebeapi_matches(case: Case, got: dict[str, Any]) -> bool:
    """JayDeBeApi's converters made the Python value expected of them from the Java object:
    timestamps and dates as text, DECIMAL as a float, or with scale 0 as ``longValue()`` (which
    keeps only the low 64 bits of a wider one). Its BINARY converter decodes the bytes as text, so
    a BINARY column is checked on the Java object only."""
    value, read = case.value, got["value"]
    if case.hive == "TIMESTAMP_TYPE":
        return read == str(value)
    if case.hive == "DECIMAL_TYPE":
        if case.decimal is not None and case.decimal[1] == 0:  # BigDecimal.longValue(): the low 64 bits
            return bool(read == (int(value) + 2**63) % 2**64 - 2**63)
        return math.isclose(read, float(value))
    if case.hive == "BINARY_TYPE":
        return isinstance(read, str)
    if isinstance(value, float) and math.isnan(value):
        return isinstance(read, float) and math.isnan(read)
    return bool(read == value)


def _hive_jdbc(engine: Any, statements: list[str]) -> list[dict[str, Any]]:
    request = {
        "url": jdbc_url(engine.host, engine.port),
        "user": "types",
        "password": PASSWORD,
        "classpath": hive_jdbc_classpath(),
        "statements": statements,
    }
    probe = subprocess.run(
        [sys.executable, "-m", "tests.types.jdbc_probe"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=150,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(probe.stdout)
    return results


@pytest.mark.beeline
@needs_lab
@pytest.mark.timeout(180)
def test_hive_jdbc_reads_every_type(engine: Any, database: Database) -> None:
    (result,) = _hive_jdbc(engine, ["__sql: " + SELECT])
    assert "error" not in result, result.get("error")
    columns = result["columns"][1:]
    assert [column["type"] for column in columns] == [
        case.hive.removesuffix("_TYPE").lower() for case in database.cases
    ]
    decimals = [
        (c.column, (col["precision"], col["scale"]))
        for c, col in zip(database.cases, columns, strict=True)
        if c.decimal
    ]
    assert decimals == [(c.column, c.decimal) for c in database.cases if c.decimal]
    java, nulls = result["java"][0][1:], result["java"][1][1:]
    wrong = [
        (c.column, c.value, got)
        for c, got in zip(database.cases, java, strict=True)
        if not _java_matches(c, got)
    ]
    assert wrong == [], "hive-jdbc getObject (column, expected, got)"
    assert nulls == [None] * len(database.cases)
    values = result["rows"][0][1:]
    wrong = [
        (c.column, c.value, got)
        for c, got in zip(database.cases, values, strict=True)
        if not _jaydebeapi_matches(c, got)
    ]
    assert wrong == [], "JayDeBeApi fetchall (column, expected, got)"
    assert [cell["value"] for cell in result["rows"][1][1:]] == [None] * len(database.cases)


# --- pandas ---------------------------------------------------------------------------------------
_DTYPE_CHECKS = {
    "int": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "bool": pd.api.types.is_bool_dtype,
    "datetime": pd.api.types.is_datetime64_any_dtype,
    "string": pd.api.types.is_string_dtype,
    "object": pd.api.types.is_object_dtype,
}


@pytest.mark.timeout(60)
def test_pandas_read_sql_gets_the_expected_dtypes(engine: Any, database: Database) -> None:
    sa_engine = sqlalchemy.create_engine(f"hive://types@{engine.host}:{engine.port}/default")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_sql("SELECT * FROM types WHERE k = 1", sa_engine)
    finally:
        sa_engine.dispose()
    wrong = [
        (case.column, case.pandas, str(frame[case.column].dtype))
        for case in database.cases
        if not _DTYPE_CHECKS[case.pandas](frame[case.column].dtype)
    ]
    assert wrong == [], "pandas dtypes (column, expected family, got)"
    for case in database.cases:
        got = frame[case.column].iloc[0]
        if case.pandas == "datetime":
            assert got == pd.Timestamp(case.value), case.column
        elif case.pandas == "float":
            expected = float(case.value)
            assert math.isnan(got) if math.isnan(expected) else math.isclose(got, expected), (
                case.column,
                got,
            )
        elif case.pandas in ("int", "bool"):
            assert case.same(type(case.value)(got)), (case.column, got)
        else:
            assert case.same(got), (case.column, got)


# --- table mode -----------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_table_mode_types_the_last_query_as_sql_does(start_engine: Any, database: Database, llm: Any) -> None:
    engine = start_engine(engine_conf(llm, database.jdbc_url, {AGENT + "result.mode": "table"}))
    llm.add(tool("run_select_query", {"sql": SELECT}), text("Here they are."))
    types, rows = _pyhive(engine, "show me every row of the types table")
    _check_row(database, types, rows, "PyHive in table mode")
