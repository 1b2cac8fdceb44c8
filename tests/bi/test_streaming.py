"""Typed results stream from the database cursor (issue 17 §1), through PyHive on SQLite,
PostgreSQL and MariaDB: the first rows reach the client while the query is still reading, the
read stays a few batches ahead of the client, a cancel or a close ends the database statement at
once, and ``passthrough.max.rows`` cuts only when set, saying so."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from impala.dbapi import connect as impyla_connect
from pyhive.exc import OperationalError
from TCLIService.ttypes import TOperationState

from tests.bi.support import AGENT, Database, connect, start_bi_engine
from tests.support.databases import mysql_query, pg_query, wait_until

STREAM_CONF = {AGENT + "passthrough.batch.rows": "500", AGENT + "passthrough.readahead.batches": "2"}


def _big_query(database: Database, marker: str, rows: int) -> str:
    """``rows`` rows (times the 3 orders on SQLite, which must read a table to hold a lock)."""
    if database.kind == "sqlite":
        return (
            f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) "
            f"SELECT s.n AS {marker}, o.customer FROM s, orders AS o"
        )
    if database.kind == "postgresql":
        return f"SELECT g AS {marker}, 'row' || g AS label FROM generate_series(1, {rows}) AS g"
    return f"SELECT seq AS {marker}, CONCAT('row', seq) AS label FROM seq_1_to_{rows}"


def _statement_alive(database: Database, marker: str) -> Callable[[], bool]:
    """Whether the database still holds the streaming statement open."""
    if database.kind == "postgresql":
        return lambda: bool(
            pg_query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'data-agent-engine' "
                "AND state <> 'idle' AND (query LIKE %s OR query LIKE %s)",
                f"%{marker}%",
                'FETCH FORWARD % FROM "dae_stream"',
            )
        )
    if database.kind == "mariadb":
        return lambda: bool(
            mysql_query(
                "SELECT id FROM information_schema.processlist WHERE info LIKE %s AND id <> CONNECTION_ID()",
                f"%AS {marker}%",
            )
        )
    path = database.url.removeprefix("sqlite:///")

    def locked() -> bool:  # a pending read holds SQLite's SHARED lock: a writer cannot commit
        writer = sqlite3.connect(path, timeout=0)
        try:
            writer.execute("UPDATE orders SET note = note WHERE id = 1")
            writer.commit()
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            writer.close()

    return locked


@pytest.mark.parametrize("stop", ["close", "cancel"])
def test_rows_stream_while_the_query_reads_and_stopping_ends_the_statement(
    start_engine: Any, tmp_path: Any, database: Database, stop: str
) -> None:
    engine = start_bi_engine(start_engine, tmp_path, database.url, conf=STREAM_CONF)
    marker = f"streamed_{uuid.uuid4().hex[:8]}"
    alive = _statement_alive(database, marker)
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("__sql: " + _big_query(database, marker, 2_000_000), async_=True)
        first = cursor.fetchmany(700)
        assert len(first) == 700 and first[0][0] == 1
        assert cursor.description[0][:2] == (
            marker,
            "BIGINT_TYPE" if database.kind != "postgresql" else "INT_TYPE",
        )
        # results are available (FINISHED, which impyla and hive-jdbc wait for) while the read
        # waits a few batches ahead of the client: the statement is still open
        assert cursor.poll().operationState == TOperationState.FINISHED_STATE
        assert alive()
        if stop == "cancel":
            cursor.cancel()
        else:
            cursor.close()
        assert wait_until(lambda: not alive(), 5.0), "the database statement outlived the operation"


def test_impyla_waits_for_finished_and_reads_every_row(
    sqlite_db: Database, start_engine: Any, tmp_path: Any
) -> None:
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, conf=STREAM_CONF)
    conn = impyla_connect(engine.host, engine.port, auth_mechanism="PLAIN", user="alice", password="x")
    try:
        cursor = conn.cursor()
        cursor.execute("__sql: " + _big_query(sqlite_db, "n", 5_000))  # polls until FINISHED
        assert len(cursor.fetchall()) == 15_000
    finally:
        conn.close()


def test_a_synchronous_execute_streams_and_reads_every_row(
    sqlite_db: Database, start_engine: Any, tmp_path: Any
) -> None:
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, conf=STREAM_CONF)
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("__sql: " + _big_query(sqlite_db, "n", 7_001))  # runAsync=false
        rows = cursor.fetchall()
    assert len(rows) == 3 * 7_001
    assert sorted(row[0] for row in rows)[-1] == 7_001


def test_max_rows_cuts_only_when_set_and_says_so(
    sqlite_db: Database, start_engine: Any, tmp_path: Any
) -> None:
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, conf=STREAM_CONF)
    sql = "__sql: " + _big_query(sqlite_db, "n", 1_000)
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, async_=True)
        assert len(cursor.fetchall()) == 3_000  # no silent cap by default
        assert any("the result has 3000 rows" in line for line in cursor.fetch_logs())
    with connect(engine, configuration={AGENT + "passthrough.max.rows": "1200"}) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, async_=True)
        assert len(cursor.fetchall()) == 1_200
        logs = "\n".join(cursor.fetch_logs())
    assert "WARN the result was cut at 1200 rows" in logs and "passthrough.max.rows=1200" in logs
    assert "the result has 1200 rows (cut)" in logs


def test_a_later_batch_that_breaks_the_first_batch_type_is_a_clear_error(
    sqlite_db: Database, start_engine: Any, tmp_path: Any
) -> None:
    path = sqlite_db.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as writer:
        writer.execute("CREATE TABLE mixed (v INTEGER)")
        writer.executemany("INSERT INTO mixed VALUES (?)", [(i,) for i in range(1_000)] + [("text",)])
        writer.execute("CREATE TABLE widened (v)")
        writer.executemany("INSERT INTO widened VALUES (?)", [(i,) for i in range(1_000)] + [(2**40,)])
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, conf=STREAM_CONF)
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("__sql: SELECT v FROM widened", async_=True)
        assert cursor.fetchall()[-1] == (2**40,)  # SQLite integers are BIGINT from the first batch
        cursor.execute("__sql: SELECT v FROM mixed", async_=True)
        with pytest.raises(OperationalError) as caught:
            cursor.fetchall()
    message = str(caught.value)
    assert "row 1001: column v holds 'text'" in message and "CAST the column" in message
