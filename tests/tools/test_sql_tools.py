"""The SQL and schema tools against real SQLite, PostgreSQL and MariaDB: rendering, structured
results, the row cap, mutations, schema exploration, cancel and bad input."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from engine.common.cancel import CancelReason, CancelToken
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.common.types import HiveType
from engine.datasource import Datasource
from engine.datasource.catalog import Catalog
from engine.tools import ToolRegistry
from tests.support.databases import pg_query
from tests.tools.conftest import Target, make_conf


def test_select_renders_markdown_with_null_and_pipes(target: Target) -> None:
    result = target.call("run_select_query", {"sql": "SELECT id, name, country FROM customers ORDER BY id"})
    assert not result.is_error, result.output
    lines = result.output.splitlines()
    assert lines[0] == "| id | name | country |"
    assert lines[1] == "|---|---|---|"
    assert "| 3 | Cy\\|d | NULL |" in lines
    assert "(4 rows)" in result.output
    assert [c.name for c in result.table.columns] == ["id", "name", "country"]
    assert result.table.columns[0].type in (HiveType.INT, HiveType.BIGINT)
    assert result.table.rows[2] == (3, "Cy|d", None)


def test_row_cap_note(target: Target) -> None:
    conf = make_conf(**{"query.max.rows": "2"})
    result = target.registry.call(
        "run_select_query", {"sql": "SELECT id FROM orders ORDER BY id"}, target.ctx(conf=conf)
    )
    assert not result.is_error
    assert result.table.truncated and len(result.table.rows) == 2
    assert "truncated to the first 2 rows" in result.output and "query.max.rows" in result.output


def test_empty_result(target: Target) -> None:
    result = target.call("run_select_query", {"sql": "SELECT id, name FROM customers WHERE id < 0"})
    assert not result.is_error and "no rows" in result.output and "id, name" in result.output


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("SELEC id FROM customers", "read-only guard"),
        ("SELECT id FROM no_such_table", "no_such_table"),
        ("SELECT no_such_column FROM customers", "no_such_column"),
        ("DELETE FROM customers", "run_mutation_query"),
    ],
)
def test_bad_sql_is_an_error_result(target: Target, sql: str, expected: str) -> None:
    result = target.call("run_select_query", {"sql": sql})
    assert result.is_error and expected in result.output
    assert "\n" not in result.output
    assert target.query("SELECT COUNT(*) FROM " + _qualified(target, "customers"))[0][0] == 4


def _qualified(target: Target, table: str) -> str:
    if target.kind == "sqlite":
        return table
    return f"{target.name}.{table}"


def test_mutation_reports_rows_affected_and_commits(target: Target) -> None:
    table = f"m_{uuid.uuid4().hex[:8]}"
    created = target.call("run_mutation_query", {"sql": f"CREATE TABLE {table} (a INTEGER)"})
    assert not created.is_error, created.output
    try:
        inserted = target.call("run_mutation_query", {"sql": f"INSERT INTO {table} VALUES (1), (2), (3)"})
        assert not inserted.is_error and "3 rows affected" in inserted.output
        updated = target.call("run_mutation_query", {"sql": f"UPDATE {table} SET a = a + 1 WHERE a > 1"})
        assert "2 rows affected" in updated.output
        assert target.query(f"SELECT SUM(a) FROM {_qualified(target, table)}")[0][0] == 8
        failed = target.call("run_mutation_query", {"sql": f"INSERT INTO {table} VALUES ('x', 'y')"})
        assert failed.is_error
        stacked = target.call("run_mutation_query", {"sql": f"DELETE FROM {table}; DROP TABLE customers"})
        assert stacked.is_error
        assert target.query(f"SELECT COUNT(*) FROM {_qualified(target, table)}")[0][0] == 3
        empty = target.call("run_mutation_query", {"sql": " "})
        assert empty.is_error
    finally:
        target.call("run_mutation_query", {"sql": f"DROP TABLE {table}"})


@pytest.fixture
def schema_target(target: Target) -> Target:
    """The target; its schema tools read the datasource catalog."""
    return target


def test_list_tables(schema_target: Target) -> None:
    target = schema_target
    result = target.call("list_tables", {})
    assert not result.is_error, result.output
    assert "| customers | TABLE |" in result.output and "| orders | TABLE |" in result.output
    filtered = target.call("list_tables", {"pattern": "ord%"})
    assert "orders" in filtered.output and "customers" not in filtered.output
    missing = target.call("list_tables", {"schema": "no_such_schema_x"})
    assert missing.is_error and "no schema" in missing.output


def test_describe_table(schema_target: Target) -> None:
    target = schema_target
    result = target.call("describe_table", {"table": "orders"})
    assert not result.is_error, result.output
    assert "| id |" in result.output and "| PRI |" in result.output
    amount = next(line for line in result.output.splitlines() if line.startswith("| amount |"))
    assert amount.replace(" ", "").lower().split("|")[2] in ("decimal(10,2)", "numeric(10,2)")
    assert "Primary key: (id)" in result.output
    assert "references" in result.output and "customers (id)" in result.output
    missing = target.call("describe_table", {"table": "nope"})
    assert missing.is_error and "list_tables" in missing.output


def test_describe_table_qualified_name(schema_target: Target) -> None:
    target = schema_target
    schema = {"sqlite": "main"}.get(target.kind, target.name)
    result = target.call("describe_table", {"table": f"{schema}.customers"})
    assert not result.is_error and "| name |" in result.output


def test_sample_values(schema_target: Target) -> None:
    target = schema_target
    result = target.call("sample_values", {"table": "customers", "column": "country"})
    assert not result.is_error, result.output
    assert "(2 distinct values)" in result.output and "FR" in result.output and "DE" in result.output
    capped = target.call("sample_values", {"table": "customers", "column": "name", "limit": 2})
    assert "there are more" in capped.output
    assert target.call("sample_values", {"table": "customers", "column": "nope"}).is_error
    assert target.call("sample_values", {"table": "nope", "column": "x"}).is_error
    assert target.call("sample_values", {"table": "customers", "column": "x", "limit": 0}).is_error


# --- cancel and timeout stop the statement in the database -------------------------------------
def _pg_running(marker: str) -> int:
    rows = pg_query(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
        "AND (query LIKE %s OR query LIKE 'FETCH%%' AND application_name = 'data-agent-engine')",
        f"%{marker}%",
    )
    return int(rows[0][0])


def test_postgres_cancel_stops_the_query(pg_target: Target) -> None:
    cancel = CancelToken()
    results: list[object] = []
    marker = f"slow_{uuid.uuid4().hex[:8]}"
    caller = threading.Thread(
        target=lambda: results.append(
            pg_target.call("run_select_query", {"sql": f"SELECT pg_sleep(30) AS {marker}"}, cancel=cancel)
        ),
        name="test-caller",
    )
    caller.start()
    deadline = time.monotonic() + 10
    while _pg_running(marker) == 0 and time.monotonic() < deadline:
        cancel.wait(0.05)
    assert _pg_running(marker) >= 1, "the query never started"
    started = time.monotonic()
    cancel.cancel(CancelReason.USER)
    caller.join(5)
    assert not caller.is_alive()
    while _pg_running(marker) and time.monotonic() - started < 2:
        cancel.wait(0.05)
    assert _pg_running(marker) == 0
    assert time.monotonic() - started < 2
    assert results[0].is_error and "cancelled" in results[0].output  # type: ignore[attr-defined]


def test_tool_call_timeout_stops_a_sqlite_query(sqlite_target: Target) -> None:
    conf = make_conf(**{"tool.call.timeout": "PT0.5S"})
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
    started = time.monotonic()
    result = sqlite_target.registry.call("run_select_query", {"sql": sql}, sqlite_target.ctx(conf=conf))
    assert result.is_error and "timed out" in result.output
    assert time.monotonic() - started < 3


def test_query_timeout_is_an_error_result(mysql_target: Target) -> None:
    conf = make_conf(**{"query.timeout": "PT0.5S"})
    result = mysql_target.registry.call(
        "run_select_query", {"sql": "SELECT SLEEP(5)"}, mysql_target.ctx(conf=conf)
    )
    assert result.is_error and "query.timeout" in result.output


# --- unreachable databases ----------------------------------------------------------------------
def _unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        "jdbc:postgresql://127.0.0.1:{port}/test?user=postgres&password=Sup3rS3cret",
        "jdbc:mariadb://127.0.0.1:{port}/test?user=root&password=Sup3rS3cret",
        "jdbc:postgresql://127.0.0.1:5432/test?user=nobody_here&password=Sup3rS3cret",
        "jdbc:mariadb://127.0.0.1:3306/test?user=nobody_here&password=Sup3rS3cret",
    ],
)
def test_down_or_wrong_credentials_are_error_results(
    url: str, tmp_path: object, scheduler: DeadlineScheduler
) -> None:
    conf: EngineConf = make_conf(**{"jdbc.url": url.format(port=_unused_port())})
    datasource = Datasource.from_conf(conf, scheduler)
    registry = ToolRegistry.default(datasource, Catalog(datasource, conf), conf, scheduler=scheduler)
    try:
        target = Target("x", datasource, registry, tmp_path / "w", "x", None, conf)  # type: ignore[operator]
        for name, args in [
            ("run_select_query", {"sql": "SELECT 1"}),
            ("list_tables", {}),
            ("describe_table", {"table": "t"}),
            ("run_mutation_query", {"sql": "DELETE FROM t"}),
        ]:
            started = time.monotonic()
            result = target.call(name, args)
            assert result.is_error, (name, result.output)
            assert "Sup3rS3cret" not in result.output and "\n" not in result.output
            assert time.monotonic() - started < 15
    finally:
        registry.close()
        datasource.close()
