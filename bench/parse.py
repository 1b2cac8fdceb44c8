#!/usr/bin/env python3
"""Statement parser benchmark (``engine.operation.parser``), in process: the parser is a pure
function of the text, the catalog lookups are a fake.

Prints:
  * whether sqlglot runs compiled (``sqlglotc``) or as pure Python;
  * the time to classify common statements (a question, ``SELECT 1``, ``USE``, DBeaver's
    ``SELECT * FROM t LIMIT 200``, a 40-column BI query), microseconds per statement;
  * the time to decide each hostile 1 MiB statement of issue 11 (target: < 100 ms each);
  * the worst SQL within the parse budget (32 KiB, 4096 tokens): its parse time and the longest
    stretch another thread waited for the GIL meanwhile.

usage: bench/parse.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlglot.tokenizer_core  # noqa: E402

from engine.common.catalog import TableInfo  # noqa: E402
from engine.common.errors import InvalidStatementError  # noqa: E402
from engine.operation.parser import SQL_BUDGET, ParseOptions, parse_statement  # noqa: E402

MIB = 1 << 20


class Catalog:
    def find_table(self, schema: str | None, name: str) -> TableInfo:
        if name.lower() in ("orders", "customers"):
            return TableInfo("main", name, "TABLE")
        raise InvalidStatementError(f"Table not found {name}")


OPTIONS = ParseOptions(dialect="postgres", catalog=Catalog())


def fill(prefix: str, unit: str, suffix: str = "", size: int = MIB) -> str:
    return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix


def timed(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            parse_statement(text, OPTIONS)
        except InvalidStatementError:
            pass
        best = min(best, time.perf_counter() - started)
    return best


def gil_wait(work: Callable[[], object]) -> tuple[float, float]:
    """(seconds ``work`` took, longest gap a 1 ms ticker thread saw meanwhile)."""
    gaps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick, name="bench-ticker")
    ticker.start()
    time.sleep(0.02)
    started = time.perf_counter()
    try:
        work()
    except InvalidStatementError:
        pass
    elapsed = time.perf_counter() - started
    stop.set()
    ticker.join()
    return elapsed, max(gaps, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compiled = sqlglot.tokenizer_core.__file__.endswith(".so")
    print(f"sqlglot: {'compiled (sqlglotc)' if compiled else 'pure Python'}")
    for text in ("SELECT 1", "SELECT * FROM orders", "SELECT * FROM (q) t", "USE x", "SHOW TABLES"):
        parse_statement(text, OPTIONS)  # load the dialects once

    common = {
        "question": "how many orders were placed per country last month?",
        "SELECT 1": "SELECT 1",
        "USE `default`": "USE `default`",
        "SET k=v": "SET kyuubi.engine.data.agent.approval.mode=STRICT",
        "DBeaver view": "SELECT * FROM orders LIMIT 200",
        "BI query, 40 columns": "SELECT "
        + ", ".join(f"SUM(o.c{i}) AS s{i}" for i in range(40))
        + " FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.country = 'DE' GROUP BY c.id",
    }
    print(f"\ncommon statements (best of {args.repeats})")
    for name, text in common.items():
        print(f"  {name:24} {timed(text, args.repeats) * 1e6:10.0f} us")

    attacks = {
        "set a<spaces>b": "set a" + " " * (MIB - 6) + "b",
        "use <1 MiB name>": "use " + "a" * (MIB - 4),
        "select from ( ...": fill("", "select from ("),
        "a 1 MiB question": fill("", "how many orders were placed per country? "),
        "__sql: SELECT 1+1+...": fill("__sql: SELECT ", "1+", "1"),
        "SELECT 1+1+...": fill("SELECT ", "1+", "1"),
        "wrapper, 1 MiB inside": fill("SELECT * FROM (", "q ", ") t"),
        "set a=b; ; ; ...": fill("set a=b", "; "),
    }
    print("\nhostile 1 MiB statements (target < 100 ms)")
    for name, text in attacks.items():
        print(f"  {name:24} {timed(text, args.repeats) * 1000:10.2f} ms")

    budget = {
        "SELECT 1+1+... (budget)": fill("SELECT ", "1+", "1 FROM orders", size=SQL_BUDGET),
        "(((( (budget)": fill("", "(", size=SQL_BUDGET),
        "4000-token query": "SELECT " + ", ".join(f"id + {i}" for i in range(995)) + " FROM orders",
    }
    print("\nworst SQL within the parse budget: parse time, longest GIL wait of another thread")
    for name, text in budget.items():
        elapsed, gap = gil_wait(lambda text=text: parse_statement(text, OPTIONS))
        print(f"  {name:24} {elapsed * 1000:10.1f} ms   GIL wait {gap * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
