#!/usr/bin/env python3
"""SQL tools benchmark.

Prints:
  * the overhead of ``run_select_query`` on ``SELECT 1`` over raw SQLAlchemy on the same
    database (target: at most 2 ms added per call, sqlglot parse included), p50 and mean, with
    the parts: the read-only guard alone, ``Datasource.execute_read`` (the database-enforced
    read-only transaction), and the whole tool call (guard + pool hop + render);
  * rows/s to render a 100,000-row result as a Markdown table under the row cap, and rows/s of a
    100,000-row ``run_select_query`` end to end (query, typing, render, offload to a file).

Databases: a SQLite file, and PostgreSQL at 127.0.0.1:5432 (db test) unless --no-postgres.

usage: bench/tools.py [--calls 2000] [--rows 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402

from engine.common.cancel import CancelToken  # noqa: E402
from engine.common.config import EngineConf  # noqa: E402
from engine.common.deadline import DeadlineScheduler  # noqa: E402
from engine.common.result import QueryResult  # noqa: E402
from engine.common.types import ColumnSpec, HiveType  # noqa: E402
from engine.datasource import Datasource  # noqa: E402
from engine.datasource.catalog import Catalog  # noqa: E402
from engine.tools import ToolContext, ToolRegistry, check_read_only  # noqa: E402
from engine.tools.render import render_result  # noqa: E402

AGENT = "kyuubi.engine.data.agent."


def timed(action: Callable[[], object], calls: int) -> list[float]:
    for _ in range(min(50, calls)):  # warm up pools, caches and the parser
        action()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def show(label: str, samples: list[float]) -> float:
    p50 = statistics.median(samples)
    print(f"  {label:<44} p50 {p50:7.3f} ms   mean {statistics.fmean(samples):7.3f} ms")
    return p50


def overhead(name: str, jdbc_url: str, sa_url: str, dialect: str, calls: int, work: Path) -> None:
    print(f"\nSELECT 1 on {name} ({calls} calls each)")
    conf = EngineConf.load([f"{AGENT}jdbc.url={jdbc_url}"], environ={})
    scheduler = DeadlineScheduler("bench-deadline-scheduler")
    datasource = Datasource.from_conf(conf, scheduler)
    registry = ToolRegistry.default(datasource, Catalog(datasource, conf), conf, scheduler=scheduler)
    raw_engine = sqlalchemy.create_engine(sa_url)
    ctx = ToolContext("bench", work, CancelToken(), conf)
    try:

        def raw() -> object:
            with raw_engine.connect() as connection:
                return connection.execute(sqlalchemy.text("SELECT 1")).fetchall()

        raw_p50 = show("raw SQLAlchemy connect + execute + fetch", timed(raw, calls))
        show(
            "read-only guard (sqlglot tokenize + parse)",
            timed(lambda: check_read_only("SELECT 1", dialect), calls),
        )
        read_p50 = show(
            "Datasource.execute_read (DB read-only)",
            timed(lambda: datasource.execute_read("SELECT 1", max_rows=1000, timeout=30), calls),
        )

        def tool() -> object:
            result = registry.call("run_select_query", {"sql": "SELECT 1"}, ctx)
            assert not result.is_error, result.output
            return result

        tool_p50 = show("run_select_query tool call (everything)", timed(tool, calls))
        print(f"  => added per call over raw SQLAlchemy: {tool_p50 - raw_p50:+.3f} ms (p50; target <= 2 ms)")
        print(f"     of which the tools layer (guard, pool hop, render): {tool_p50 - read_p50:+.3f} ms")
    finally:
        registry.close()
        datasource.close()
        scheduler.close()
        raw_engine.dispose()


def render_rate(rows: int) -> None:
    columns = (
        ColumnSpec("id", HiveType.BIGINT),
        ColumnSpec("name", HiveType.STRING),
        ColumnSpec("amount", HiveType.DECIMAL, precision=10, scale=2),
        ColumnSpec("ratio", HiveType.DOUBLE),
        ColumnSpec("placed", HiveType.DATE),
        ColumnSpec("note", HiveType.STRING),
    )
    day = datetime.date(2024, 1, 1)
    data = [
        (i, f"customer {i}", decimal.Decimal(i % 1000) / 4, i / 7.0, day, None if i % 5 == 0 else "a|b")
        for i in range(rows)
    ]
    result = QueryResult(columns, data, False, 0.0)
    started = time.perf_counter()
    text = render_result(result, rows)
    elapsed = time.perf_counter() - started
    print(
        f"\nrender {rows} rows x {len(columns)} columns as Markdown: {elapsed:.3f} s = {rows / elapsed:,.0f} rows/s ({len(text) / 1e6:.1f} MB)"
    )


def end_to_end(rows: int, work: Path) -> None:
    path = work / "big.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE big (id INTEGER, name TEXT, amount REAL, note TEXT)")
        connection.executemany(
            "INSERT INTO big VALUES (?, ?, ?, ?)",
            ((i, f"name {i}", i / 3.0, None if i % 3 else "x|y") for i in range(rows)),
        )
    conf = EngineConf.load(
        [f"{AGENT}jdbc.url=jdbc:sqlite:{path}", f"{AGENT}query.max.rows={rows}"], environ={}
    )
    scheduler = DeadlineScheduler("bench-deadline-scheduler")
    datasource = Datasource.from_conf(conf, scheduler)
    registry = ToolRegistry.default(datasource, Catalog(datasource, conf), conf, scheduler=scheduler)
    try:
        ctx = ToolContext("bench", work / "session", CancelToken(), conf)
        started = time.perf_counter()
        result = registry.call("run_select_query", {"sql": "SELECT * FROM big"}, ctx)
        elapsed = time.perf_counter() - started
        assert not result.is_error and len(result.table.rows) == rows, result.output[:200]
        print(
            f"run_select_query of {rows} rows end to end (query, typing, render, offload): "
            f"{elapsed:.3f} s = {rows / elapsed:,.0f} rows/s; the model saw {len(result.output)} chars"
        )
    finally:
        registry.close()
        datasource.close()
        scheduler.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as folder:
        work = Path(folder)
        db = work / "one.db"
        sqlite3.connect(db).close()
        overhead("SQLite", f"jdbc:sqlite:{db}", f"sqlite:///{db}", "sqlite", options.calls, work / "s1")
        if not options.no_postgres:
            overhead(
                "PostgreSQL",
                "jdbc:postgresql://127.0.0.1:5432/test?user=postgres",
                "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
                "postgres",
                options.calls,
                work / "s2",
            )
        render_rate(options.rows)
        end_to_end(options.rows, work)


if __name__ == "__main__":
    main()
