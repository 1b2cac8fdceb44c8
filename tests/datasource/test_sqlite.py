"""SQLite: typed reads, row caps, writes, the read-only connection, timeout, cancel, bad input,
and the bundled demo database."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from engine.common.cancel import CancelReason, CancelToken
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import (
    BusyError,
    DatasourceError,
    EngineError,
    InvalidStatementError,
    OperationCanceledError,
    OperationTimeoutError,
)
from engine.common.types import HiveType
from engine.datasource import Datasource
from engine.datasource.demo import materialize

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def table_state(path: Path) -> tuple[list[str], int, int]:
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master ORDER BY name")]
        customers = connection.execute("SELECT count(*) FROM customers").fetchone()[0]
        orders = connection.execute("SELECT count(*) FROM orders").fetchone()[0]
    return tables, customers, orders


def test_read_types_and_values(sqlite_ds: Datasource) -> None:
    result = sqlite_ds.execute_read(
        "SELECT c.name, count(*) AS n, sum(o.amount) AS total, max(o.placed) AS last, NULL AS empty "
        "FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name",
        max_rows=100,
        timeout=10,
    )
    assert [c.name for c in result.columns] == ["name", "n", "total", "last", "empty"]
    assert [c.type for c in result.columns] == [
        HiveType.STRING,
        HiveType.BIGINT,
        HiveType.DOUBLE,
        HiveType.STRING,
        HiveType.STRING,
    ]
    assert result.rows == [
        ("Ann", 2, 30.5, "2024-02-07", None),
        ("Bob", 1, 7.25, "2024-02-09", None),
        ("Cy|d", 1, 99.99, "2024-03-01", None),
    ]
    assert result.truncated is False and result.elapsed > 0


def test_mixed_column_values_get_one_type(sqlite_ds: Datasource) -> None:
    result = sqlite_ds.execute_read(
        "SELECT 1 AS a, 'x' AS b, x'00ff' AS c UNION ALL SELECT 2.5, 3, NULL", max_rows=10, timeout=10
    )
    assert [c.type for c in result.columns] == [HiveType.DOUBLE, HiveType.STRING, HiveType.BINARY]
    assert result.rows == [(1.0, "x", b"\x00\xff"), (2.5, "3", None)]


def test_row_cap_marks_truncation(sqlite_ds: Datasource) -> None:
    result = sqlite_ds.execute_read("SELECT * FROM orders ORDER BY id", max_rows=2, timeout=10)
    assert [row[0] for row in result.rows] == [1, 2] and result.truncated is True
    exact = sqlite_ds.execute_read("SELECT * FROM orders", max_rows=4, timeout=10)
    assert len(exact.rows) == 4 and exact.truncated is False


def test_write_commits_and_counts_rows(sqlite_ds: Datasource, sqlite_path: Path) -> None:
    written = sqlite_ds.execute_write("UPDATE orders SET note = 'seen' WHERE customer_id = 1", timeout=10)
    assert written.rows_affected == 2
    with sqlite3.connect(sqlite_path) as connection:
        assert connection.execute("SELECT count(*) FROM orders WHERE note = 'seen'").fetchone()[0] == 2
    created = sqlite_ds.execute_write("CREATE TABLE extra (x INTEGER)", timeout=10)
    assert created.rows_affected <= 0  # DDL: none, or unknown (-1)
    assert "extra" in table_state(sqlite_path)[0]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers VALUES (9, 'Eve', 'US')",
        "WITH x AS (SELECT 1) INSERT INTO customers SELECT 9, 'Eve', 'US' FROM x",
        "DELETE FROM orders",
        "UPDATE orders SET amount = 0",
        "CREATE TABLE evil (x)",
        "CREATE TEMP TABLE evil (x)",
        "DROP TABLE orders",
        "ATTACH DATABASE '{dir}/attached.db' AS a",
        "VACUUM INTO '{dir}/copy.db'",
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = DELETE",
        "REPLACE INTO customers VALUES (1, 'Mallory', 'XX')",
        "SELECT load_extension('/tmp/nothing')",
        "REINDEX",
        "ANALYZE",
    ],
)
def test_reads_are_read_only_by_the_database(sqlite_ds: Datasource, sqlite_path: Path, sql: str) -> None:
    before = table_state(sqlite_path)
    files_before = sorted(p.name for p in sqlite_path.parent.iterdir())
    with pytest.raises(EngineError):
        sqlite_ds.execute_read(sql.format(dir=sqlite_path.parent), max_rows=10, timeout=10)
    assert table_state(sqlite_path) == before
    assert sorted(p.name for p in sqlite_path.parent.iterdir()) == files_before
    with sqlite3.connect(sqlite_path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 0


def test_authorizer_is_only_on_during_the_read(sqlite_ds: Datasource) -> None:
    assert sqlite_ds.execute_read("PRAGMA table_info(orders)", max_rows=10, timeout=10).rows[0][1] == "id"
    assert (
        sqlite_ds.execute_write("INSERT INTO customers VALUES (4, 'Dee', 'IT')", timeout=10).rows_affected
        == 1
    )
    assert sqlite_ds.execute_read("SELECT name FROM customers WHERE id = 4", max_rows=1, timeout=10).rows == [
        ("Dee",)
    ]


def test_timeout_stops_a_runaway_query(sqlite_ds: Datasource) -> None:
    started = time.monotonic()
    with pytest.raises(OperationTimeoutError) as caught:
        sqlite_ds.execute_read(ENDLESS, max_rows=1, timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert "query.timeout" in str(caught.value)
    assert sqlite_ds.execute_read("SELECT 1", max_rows=1, timeout=5).rows == [(1,)]  # the pool is healthy


def test_cancel_stops_a_running_query_within_two_seconds(sqlite_ds: Datasource) -> None:
    token = CancelToken()
    outcome: list[BaseException] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            sqlite_ds.execute_read(ENDLESS, max_rows=1, timeout=60, cancel=token)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, name="test-sqlite-query")
    worker.start()
    assert started.wait(5)
    time.sleep(0.2)  # let the statement get going
    cancelled_at = time.monotonic()
    token.cancel(CancelReason.USER)
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - cancelled_at < 2.0
    assert isinstance(outcome[0], OperationCanceledError)


def test_already_cancelled_token_runs_nothing(sqlite_ds: Datasource, sqlite_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCanceledError):
        sqlite_ds.execute_write("DELETE FROM orders", timeout=5, cancel=token)
    assert table_state(sqlite_path)[2] == 4


@pytest.mark.parametrize(
    ("sql", "error", "text"),
    [
        ("", InvalidStatementError, "empty"),
        ("   \n\t ", InvalidStatementError, "empty"),
        ("-- only a comment", InvalidStatementError, "empty"),
        ("SELECT FROM WHERE", DatasourceError, "syntax error"),
        ("SELECT * FROM nowhere", DatasourceError, "no such table: nowhere"),
        ("SELECT 1; SELECT 2", InvalidStatementError, "2 statements"),
        ("SELECT 'unterminated", InvalidStatementError, "unterminated"),
    ],
)
def test_bad_sql_gets_a_clear_error(sqlite_ds: Datasource, sql: str, error: type, text: str) -> None:
    with pytest.raises(error) as caught:
        sqlite_ds.execute_read(sql, max_rows=5, timeout=5)
    assert text in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_is_reported(tmp_path: Path, scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(f"jdbc:sqlite:{tmp_path / 'absent.db'}", scheduler=scheduler)
    try:
        with pytest.raises(DatasourceError) as caught:
            datasource.execute_read("SELECT 1", max_rows=1, timeout=5)
        assert "does not exist" in str(caught.value)
        assert not (tmp_path / "absent.db").exists()  # a read never creates the file
    finally:
        datasource.close()


def test_demo_database_is_built_once_and_used_when_no_url(
    tmp_path: Path, scheduler: DeadlineScheduler
) -> None:
    first = materialize(tmp_path)
    assert materialize(tmp_path) == first
    stamp = first.stat().st_mtime_ns
    conf = EngineConf.load([f"kyuubi.engine.data.agent.work.dir={tmp_path}"], environ={})
    datasource = Datasource.from_conf(conf, scheduler)
    try:
        assert datasource.dialect == "sqlite" and "demo" in datasource.display_url
        counts = datasource.execute_read(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products), "
            "(SELECT count(*) FROM orders), (SELECT count(*) FROM order_items), "
            "(SELECT count(DISTINCT country) FROM customers), "
            "(SELECT count(*) FROM orders o LEFT JOIN customers c USING (customer_id) WHERE c.customer_id IS NULL)",
            max_rows=1,
            timeout=10,
        ).rows[0]
        customers, products, orders, items, countries, orphans = counts
        assert customers >= 30 and products >= 15 and orders >= 200 and items >= 400
        assert countries >= 10 and orphans == 0
    finally:
        datasource.close()
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".demo-")] == []


def test_in_memory_database_reads_are_read_only(scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url("jdbc:sqlite::memory:", scheduler=scheduler)
    try:
        datasource.execute_write("CREATE TABLE t (x INTEGER)", timeout=5)
        datasource.execute_write("INSERT INTO t VALUES (1)", timeout=5)
        with pytest.raises(EngineError):
            datasource.execute_read("DELETE FROM t", max_rows=1, timeout=5)
        assert datasource.execute_read("SELECT count(*) FROM t", max_rows=1, timeout=5).rows == [(1,)]
        assert datasource.execute_write("INSERT INTO t VALUES (2)", timeout=5).rows_affected == 1
    finally:
        datasource.close()


def test_exhausted_pool_is_a_busy_error_not_a_hang(sqlite_path: Path, scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(
        f"jdbc:sqlite:{sqlite_path}", pool_size=1, max_overflow=0, pool_timeout=0.2, scheduler=scheduler
    )
    held = datasource._read_engine.raw_connection()  # the only read connection
    try:
        started = time.monotonic()
        with pytest.raises(BusyError, match="busy"):
            datasource.execute_read("SELECT 1", max_rows=1, timeout=5)
        assert time.monotonic() - started < 2
    finally:
        held.close()
    assert datasource.execute_read("SELECT 1", max_rows=1, timeout=5).rows == [(1,)]
    datasource.close()


def test_the_callers_deadline_bounds_the_query(sqlite_ds: Datasource, scheduler: DeadlineScheduler) -> None:
    """The caller's deadline comes before query.timeout: the error is the caller's, naming its key."""
    token = CancelToken(
        scheduler, deadline=time.monotonic() + 0.3, timeout_message="the caller's deadline (some.key) passed"
    )
    started = time.monotonic()
    with pytest.raises(OperationTimeoutError, match=r"caller's deadline \(some\.key\)"):
        sqlite_ds.execute_read(ENDLESS, max_rows=1, timeout=60, cancel=token)
    assert time.monotonic() - started < 2.0
    assert token.wait(2.0) and token.reason is CancelReason.TIMEOUT  # its own timer fired too


def test_a_query_timeout_leaves_the_callers_token_alone(
    sqlite_ds: Datasource, scheduler: DeadlineScheduler
) -> None:
    token = CancelToken(scheduler, deadline=time.monotonic() + 60)
    with pytest.raises(OperationTimeoutError, match=r"query\.timeout"):
        sqlite_ds.execute_read(ENDLESS, max_rows=1, timeout=0.3, cancel=token)
    assert not token.cancelled
    assert sqlite_ds.execute_read("SELECT 1", max_rows=1, timeout=5, cancel=token).rows == [(1,)]
