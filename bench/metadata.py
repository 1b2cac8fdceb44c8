#!/usr/bin/env python3
"""Metadata and typed-table benchmark.

Prints:
  * GetColumns latency (all columns of a 500-table schema, 1,500 rows, fetched 1,000 at a time)
    cold (catalog cache dropped first with SET ...catalog.refresh=true) and cached, p50 and max,
    on SQLite and on PostgreSQL (127.0.0.1:5432, db test);
  * rows/s of a 1,000,000-row ``__sql:`` passthrough query read through PyHive with
    fetchmany(10000): four typed columns (BIGINT, DOUBLE, STRING, BIGINT), from SQLite and
    PostgreSQL, split into execute (query + typed table) and fetch.

The engine runs in this process on a free port (ECHO provider, the real datasource).

usage: bench/metadata.py [--rows 1000000] [--tables 500] [--repeat 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from pyhive import hive  # noqa: E402
from TCLIService import ttypes  # noqa: E402

AGENT = "kyuubi.engine.data.agent."
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def start_engine(url: str, work: Path) -> Any:
    from engine.app import EngineApp
    from engine.common.config import EngineConf

    values = {
        "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        AGENT + "work.dir": str(work),
        AGENT + "jdbc.url": url,
    }
    conf = EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})
    app = EngineApp(conf)
    app.start()
    return app


def get_columns(conn: Any, schema: str) -> int:
    client = conn.client
    response = client.GetColumns(
        ttypes.TGetColumnsReq(sessionHandle=conn.sessionHandle, schemaName=schema, tableName="%")
    )
    assert response.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, response.status
    handle = response.operationHandle
    client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(operationHandle=handle))
    rows = 0
    while True:
        fetched = client.FetchResults(
            ttypes.TFetchResultsReq(
                operationHandle=handle, orientation=ttypes.TFetchOrientation.FETCH_NEXT, maxRows=1000
            )
        )
        count = len(fetched.results.columns[0].stringVal.values) if fetched.results.columns else 0
        if count == 0:
            break
        rows += count
    client.CloseOperation(ttypes.TCloseOperationReq(operationHandle=handle))
    return rows


def bench_get_columns(label: str, url: str, schema: str, repeat: int, work: Path) -> None:
    app = start_engine(url, work)
    try:
        with hive.connect(app.host, app.port, username="bench") as conn:
            cold, warm = [], []
            rows = 0
            for _ in range(repeat):
                conn.cursor().execute(f"SET {AGENT}catalog.refresh=true")
                started = time.perf_counter()
                rows = get_columns(conn, schema)
                cold.append(time.perf_counter() - started)
                for _ in range(4):
                    started = time.perf_counter()
                    get_columns(conn, schema)
                    warm.append(time.perf_counter() - started)
        print(
            f"GetColumns {label:10s} {rows} rows: cold p50 {statistics.median(cold) * 1000:7.1f} ms "
            f"(max {max(cold) * 1000:.1f}), cached p50 {statistics.median(warm) * 1000:6.1f} ms "
            f"(max {max(warm) * 1000:.1f})"
        )
    finally:
        app.stop()


def bench_table(label: str, url: str, sql: str, rows: int, work: Path) -> None:
    app = start_engine(url, work)
    try:
        with hive.connect(
            app.host, app.port, username="bench", configuration={AGENT + "passthrough.max.rows": str(rows)}
        ) as conn:
            cursor = conn.cursor()
            cursor.arraysize = 10000
            started = time.perf_counter()
            cursor.execute("__sql: " + sql)
            executed = time.perf_counter()
            types = [d[1] for d in cursor.description]
            seen = 0
            while True:
                batch = cursor.fetchmany(10000)
                if not batch:
                    break
                seen += len(batch)
            done = time.perf_counter()
        assert seen == rows, (seen, rows)
        total = done - started
        print(
            f"table mode {label:10s} {seen} rows {types}: {total:6.2f} s = {seen / total:9,.0f} rows/s "
            f"(execute {executed - started:.2f} s, fetch {done - executed:.2f} s, {seen / (done - executed):,.0f} rows/s)"
        )
    finally:
        app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sqlite_url = f"sqlite:///{work / 'bench.db'}"
        sqlite = sqlalchemy.create_engine(sqlite_url)
        with sqlite.begin() as connection:
            for index in range(args.tables):
                connection.exec_driver_sql(
                    f"CREATE TABLE t_{index:03d} (id INTEGER, name VARCHAR(10), v DOUBLE)"
                )
        sqlite.dispose()
        bench_get_columns("sqlite", sqlite_url, "main", args.repeat, work / "e1")

        pg_schema = f"bench_{uuid.uuid4().hex[:8]}"
        pg = None if args.no_postgres else sqlalchemy.create_engine(PG_URL)
        try:
            if pg is not None:
                with pg.begin() as connection:
                    connection.exec_driver_sql(f"CREATE SCHEMA {pg_schema}")
                    for index in range(args.tables):
                        connection.exec_driver_sql(
                            f"CREATE TABLE {pg_schema}.t_{index:03d} (id INTEGER, name VARCHAR(10), v DOUBLE PRECISION)"
                        )
                bench_get_columns("postgresql", PG_URL, pg_schema, args.repeat, work / "e2")

            n = args.rows
            sqlite_sql = (
                f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
                "SELECT x AS id, x * 0.5 AS v, 'row ' || x AS s, x % 7 AS k FROM c"
            )
            bench_table("sqlite", sqlite_url, sqlite_sql, n, work / "e3")
            if pg is not None:
                pg_sql = f"SELECT g::bigint AS id, g * 0.5::float8 AS v, 'row ' || g AS s, mod(g, 7)::bigint AS k FROM generate_series(1, {n}) g"
                bench_table("postgresql", PG_URL, pg_sql, n, work / "e4")
        finally:
            if pg is not None:
                with pg.begin() as connection:
                    connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {pg_schema} CASCADE")
                pg.dispose()


if __name__ == "__main__":
    main()
