"""MariaDB (the MySQL driver path): typed reads, read-only session and transaction, bad input.
Cancel (KILL QUERY) and max_statement_time: test_cancel_and_timeout.py."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from engine.common.deadline import DeadlineScheduler
from engine.common.errors import DatasourceError, EngineError, InvalidStatementError
from engine.common.types import HiveType
from engine.datasource import Datasource
from tests.datasource.shop import read_summary
from tests.support.databases import mysql_query, shop_state


def test_read_types(mysql_ds: Datasource) -> None:
    types, first = read_summary(
        mysql_ds,
        "CAST(1.5 AS DOUBLE) AS ratio, NOW() AS ts, CAST(7 AS SIGNED) AS big, "
        "CAST(3 AS UNSIGNED) AS small, CAST('x' AS BINARY) AS raw, NULL AS nothing_here",
    )
    assert types["ratio"].type == HiveType.DOUBLE
    assert types["ts"].type == HiveType.TIMESTAMP
    assert types["big"].type in (HiveType.INT, HiveType.BIGINT)
    assert types["raw"].type == HiveType.BINARY
    assert first[8] == b"x" and first[9] is None


def test_row_cap_leaves_the_rest_on_the_server(mysql_ds: Datasource) -> None:
    sql = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200000) SELECT n FROM g"
    started = time.monotonic()
    result = mysql_ds.execute_read(sql, max_rows=5, timeout=30)
    assert [row[0] for row in result.rows] == [1, 2, 3, 4, 5] and result.truncated
    assert time.monotonic() - started < 10
    assert mysql_ds.execute_read("SELECT 1", max_rows=1, timeout=5).rows == [(1,)]


def test_show_describe_explain(mysql_ds: Datasource) -> None:
    assert ("orders",) in mysql_ds.execute_read("SHOW TABLES", max_rows=50, timeout=5).rows
    assert mysql_ds.execute_read("DESCRIBE orders", max_rows=50, timeout=5).rows[0][0] == "id"
    assert mysql_ds.execute_read("EXPLAIN SELECT * FROM orders", max_rows=5, timeout=5).rows


def test_write_commits(mysql_ds: Datasource, mysql_db: str) -> None:
    written = mysql_ds.execute_write("UPDATE orders SET note = 'seen' WHERE customer_id = 1", timeout=10)
    assert written.rows_affected == 2
    assert mysql_query(f"SELECT count(*) FROM {mysql_db}.orders WHERE note = 'seen'")[0][0] == 2
    with pytest.raises(DatasourceError, match="Duplicate entry"):
        mysql_ds.execute_write("INSERT INTO customers VALUES (1, 'Dup', 'XX')", timeout=10)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE evil (x INT)",
        "CREATE TEMPORARY TABLE evil (x INT)",
        "DROP TABLE orders",
        "TRUNCATE TABLE orders",
        "INSERT INTO customers VALUES (9, 'Eve', 'US')",
        "DELETE FROM orders",
        "RENAME TABLE orders TO orders2",
        "SELECT * FROM orders FOR UPDATE",
        "SELECT 1 INTO OUTFILE '{out}'",
        "SELECT 1 INTO DUMPFILE '{out}'",
        "SET GLOBAL max_connections = 77",
        "DO SLEEP(0)",
        "LOCK TABLES orders WRITE",
        "WITH x AS (SELECT 1) DELETE FROM orders",
        "SELECT 1; DELETE FROM orders",
    ],
)
def test_reads_are_read_only_by_the_database(
    mysql_ds: Datasource, mysql_db: str, tmp_path: Path, sql: str
) -> None:
    out = tmp_path / f"out_{uuid.uuid4().hex[:6]}.txt"
    before = shop_state(mysql_query, mysql_db)
    connections = mysql_query("SELECT @@global.max_connections")[0][0]
    try:
        mysql_ds.execute_read(sql.format(out=out), max_rows=10, timeout=10)
    except EngineError:
        pass
    assert shop_state(mysql_query, mysql_db) == before
    assert mysql_query("SELECT @@global.max_connections")[0][0] == connections
    assert not out.exists()
    assert (
        mysql_ds.execute_write("UPDATE customers SET country = country WHERE id = 1", timeout=5).rows_affected
        >= 0
    )


@pytest.mark.parametrize(
    ("sql", "error", "text"),
    [
        ("SELECT * FROM nowhere", DatasourceError, "nowhere' doesn't exist"),
        ("SELECT 1 +", DatasourceError, "SQL syntax"),
        ("  ", InvalidStatementError, "empty"),
    ],
)
def test_bad_sql(mysql_ds: Datasource, sql: str, error: type, text: str) -> None:
    with pytest.raises(error) as caught:
        mysql_ds.execute_read(sql, max_rows=1, timeout=5)
    assert text in str(caught.value) and "\n" not in str(caught.value)


def test_database_down_and_wrong_credentials(unused_port: int, scheduler: DeadlineScheduler) -> None:
    secret = "pw-" + uuid.uuid4().hex
    for url, text in (
        (f"jdbc:mysql://127.0.0.1:{unused_port}/test?user=root&password={secret}", "Can't connect"),
        (f"jdbc:mariadb://root:{secret}@127.0.0.1:3306/test", "Access denied"),
    ):
        datasource = Datasource.from_url(url, scheduler=scheduler)
        try:
            started = time.monotonic()
            with pytest.raises(DatasourceError) as caught:
                datasource.execute_read("SELECT 1", max_rows=1, timeout=5)
            assert time.monotonic() - started < 5
            assert text in str(caught.value) and secret not in str(caught.value)
            assert secret not in datasource.display_url
        finally:
            datasource.close()
