"""PostgreSQL: typed reads, read-only transactions, bad input, the pool, a clean connection after
errors. Cancel and statement_timeout: test_cancel_and_timeout.py."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from engine.common.deadline import DeadlineScheduler
from engine.common.errors import DatasourceError, EngineError, InvalidStatementError, OperationTimeoutError
from engine.common.types import HiveType
from engine.datasource import Datasource
from tests.datasource.shop import read_summary
from tests.support.databases import pg_jdbc_url, pg_query, shop_state


def test_read_types(pg_ds: Datasource) -> None:
    types, first = read_summary(
        pg_ds,
        "1.5::float8 AS ratio, true AS flag, now()::timestamp AS ts, 42::bigint AS big, "
        "gen_random_uuid() AS id, interval '1 day' AS span, '{\"a\": 1}'::jsonb AS doc",
    )
    assert types["ratio"].type == HiveType.DOUBLE
    assert types["flag"].type == HiveType.BOOLEAN
    assert types["ts"].type == HiveType.TIMESTAMP
    assert types["big"].type == HiveType.BIGINT
    assert types["id"].type == types["span"].type == types["doc"].type == HiveType.STRING
    assert isinstance(first[8], str) and first[9] == "1 day" and first[10] == '{"a":1}'  # compact JSON


def test_row_cap_with_a_server_side_cursor(pg_ds: Datasource) -> None:
    result = pg_ds.execute_read("SELECT g FROM generate_series(1, 1000000) AS g", max_rows=3, timeout=10)
    assert result.rows == [(1,), (2,), (3,)] and result.truncated is True


def test_non_select_reads_work(pg_ds: Datasource) -> None:
    explain = pg_ds.execute_read("EXPLAIN SELECT * FROM orders", max_rows=50, timeout=10)
    assert explain.columns[0].name == "QUERY PLAN" and explain.rows
    show = pg_ds.execute_read("SHOW search_path", max_rows=5, timeout=10)
    assert show.rows and show.columns[0].name == "search_path"


def test_write_commits(pg_ds: Datasource, pg_schema: str) -> None:
    written = pg_ds.execute_write("UPDATE orders SET note = note WHERE customer_id = 1", timeout=10)
    assert written.rows_affected == 2
    with pytest.raises(DatasourceError, match="duplicate key"):
        pg_ds.execute_write("INSERT INTO customers VALUES (1, 'Dup', 'XX')", timeout=10)
    assert shop_state(pg_query, pg_schema)[0] == 3


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT nextval('seq')",
        "SELECT setval('seq', 100)",
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        "WITH x AS (INSERT INTO customers VALUES (9, 'Eve', 'US') RETURNING id) SELECT * FROM x",
        "SELECT * FROM orders FOR UPDATE",
        "SELECT * INTO copy_of_orders FROM orders",
        "EXPLAIN ANALYZE DELETE FROM orders",
        "SELECT set_config('transaction_read_only', 'off', true)",
        "SELECT lo_import('/etc/hostname')",
        "TABLE orders",
    ],
)
def test_reads_run_in_a_read_only_transaction(pg_ds: Datasource, pg_schema: str, sql: str) -> None:
    before = shop_state(pg_query, pg_schema)
    sequence = pg_query(f"SELECT last_value FROM {pg_schema}.seq")[0][0]
    try:
        pg_ds.execute_read(sql, max_rows=10, timeout=10)
    except EngineError:
        pass
    assert shop_state(pg_query, pg_schema) == before
    assert pg_query(f"SELECT last_value FROM {pg_schema}.seq")[0][0] == sequence
    assert pg_query("SELECT count(*) FROM pg_largeobject_metadata")[0][0] == 0 or "lo_import" not in sql


def test_stacked_statements_cannot_leave_the_transaction(pg_ds: Datasource, pg_schema: str) -> None:
    before = shop_state(pg_query, pg_schema)
    for sql in (
        "SELECT 1; COMMIT; DELETE FROM orders",
        "SELECT 1; ROLLBACK; SET transaction_read_only = off; DELETE FROM orders",
        "SELECT $$;$$; DELETE FROM orders",
        "SELECT '\\'; DELETE FROM orders; --'",
        "SELECT 1 /* ; */; DELETE FROM orders",
    ):
        with pytest.raises(InvalidStatementError):
            pg_ds.execute_read(sql, max_rows=10, timeout=10)
    assert shop_state(pg_query, pg_schema) == before
    assert pg_ds.execute_read("SELECT $$;$$ AS s", max_rows=1, timeout=5).rows == [(";",)]
    assert pg_ds.execute_read("SELECT E'\\'; DELETE' AS s -- one string", max_rows=1, timeout=5).rows == [
        ("'; DELETE",)
    ]


@pytest.mark.parametrize(
    ("sql", "text"),
    [("SELECT * FROM nowhere", 'relation "nowhere" does not exist'), ("SELECT 1 +", "syntax error")],
)
def test_bad_sql_first_line_only(pg_ds: Datasource, sql: str, text: str) -> None:
    with pytest.raises(DatasourceError) as caught:
        pg_ds.execute_read(sql, max_rows=1, timeout=5)
    assert text in str(caught.value) and "\n" not in str(caught.value) and "LINE" not in str(caught.value)


def test_database_down_and_wrong_credentials(unused_port: int, scheduler: DeadlineScheduler) -> None:
    secret = "pw-" + uuid.uuid4().hex
    for url, text in (
        (f"jdbc:postgresql://127.0.0.1:{unused_port}/test?user=postgres&password={secret}", "refused"),
        (
            f"jdbc:postgresql://127.0.0.1:5432/test?user=nosuchuser_{uuid.uuid4().hex[:6]}&password={secret}",
            "nosuchuser",
        ),
        (f"jdbc:postgresql://127.0.0.1:5432/nosuchdb_{uuid.uuid4().hex[:6]}?user=postgres", "does not exist"),
    ):
        datasource = Datasource.from_url(url, scheduler=scheduler)
        try:
            started = time.monotonic()
            with pytest.raises(DatasourceError) as caught:
                datasource.execute_read("SELECT 1", max_rows=1, timeout=5)
            assert time.monotonic() - started < 5
            assert text in str(caught.value) and "cannot connect" in str(caught.value)
            assert secret not in str(caught.value) and secret not in datasource.display_url
        finally:
            datasource.close()


def test_pool_is_bounded(scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(
        "jdbc:postgresql://127.0.0.1:5432/test?user=postgres",
        pool_size=2,
        max_overflow=1,
        scheduler=scheduler,
    )
    try:
        assert datasource.sa_engine.pool.size() == 2
        results: list[object] = []

        def run() -> None:
            results.append(datasource.execute_read("SELECT pg_sleep(0.2)", max_rows=1, timeout=10))

        workers = [threading.Thread(target=run, name=f"test-pool-{i}") for i in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        assert len(results) == 6
        assert datasource.sa_engine.pool.checkedout() == 0
    finally:
        datasource.close()


def test_connection_is_clean_after_errors_and_timeouts(pg_schema: str, scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(pg_jdbc_url(pg_schema), pool_size=1, max_overflow=0, scheduler=scheduler)
    try:
        with pytest.raises(DatasourceError):
            datasource.execute_read("SELECT * FROM nowhere", max_rows=1, timeout=5)
        with pytest.raises(OperationTimeoutError):
            datasource.execute_read("SELECT pg_sleep(5)", max_rows=1, timeout=0.2)
        assert (
            datasource.execute_write("UPDATE customers SET name = name WHERE id = 1", timeout=5).rows_affected
            == 1
        )
        assert datasource.execute_read("SHOW transaction_read_only", max_rows=1, timeout=5).rows == [("on",)]
        assert datasource.execute_read("SHOW statement_timeout", max_rows=1, timeout=5).rows == [("5s",)]
        assert datasource.sa_engine.pool.checkedout() == 0
    finally:
        datasource.close()
