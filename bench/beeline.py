#!/usr/bin/env python3
"""beeline reading 100,000 rows, ours against Spark Thrift Server in the same run (issue 17 §4).

beeline (hive-jdbc 2.3, from the pyspark wheel that ``bin/install-test-clients`` installs) with
``--incremental=true --outputformat=tsv2`` asks for the operation's status before every row it
reads, so this measures the per-call cost of GetOperationStatus as much as the fetches.

* ours: ``python -m engine`` (SASL PLAIN, authentication NONE) on a SQLite table ``big(s TEXT)`` of
  ``str(i)``, read with ``__sql:SELECT s FROM big``;
* Spark Thrift Server (``local[1]``, authentication NONE): ``SELECT CAST(id AS STRING) AS s FROM
  range(N)``, the same strings.

Each round runs, for both servers alternately, the N-row read and a one-row read (``… LIMIT 1``):
the one-row time is beeline's own start (JVM, connect, session), so ``N-row minus one-row`` is the
time the rows took. Every beeline's stdout is counted, so a short read fails the run. Prints the
medians and the ratio (STS time / ours: ≥ 1.0 means we are at least as fast); asserts nothing.

usage: bench/beeline.py [--rows 100000] [--rounds 3] [--sts-port 10097] [--profile /tmp/beeline.txt]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import LAB, EngineProcess, Profiler, cpu_seconds, start_sts, stop_sts  # noqa: E402


def spark_home() -> Path:
    python = LAB / "venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"no clients in {LAB}: run bin/install-test-clients first")
    out = subprocess.run(
        [str(python), "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def beeline(home: Path, port: int, sql: str) -> tuple[int, float]:
    """(rows printed, seconds) of one beeline process."""
    argv = [
        str(home / "bin" / "beeline"),
        "-u",
        f"jdbc:hive2://127.0.0.1:{port}/default",
        "-n",
        "bench",
        "-p",
        "x",
        "--incremental=true",
        "--outputformat=tsv2",
        "--showHeader=false",
        "--silent=true",
        "-e",
        sql,
    ]
    env = dict(os.environ, SPARK_HOME=str(home))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    rows = sum(1 for line in proc.stdout if line.strip())
    proc.wait(600)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"beeline failed ({proc.returncode}) on port {port}: {sql}")
    return rows, took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sts-port", type=int, default=10097)
    parser.add_argument("--profile", help="py-spy our engine during its N-row reads; collapsed stacks here")
    args = parser.parse_args()
    home = spark_home()
    with tempfile.TemporaryDirectory(prefix="bench-beeline-") as name:
        tmp = Path(name)
        db = tmp / "big.db"
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE big (s TEXT)")
            connection.executemany("INSERT INTO big VALUES (?)", ((str(i),) for i in range(args.rows)))
        engine = EngineProcess(
            tmp / "work",
            "http://127.0.0.1:9/v1",  # no LLM: __sql: statements only
            {"kyuubi.authentication": "NONE"},
            {"KYUUBI_ENGINE_DATA_AGENT_JDBC_URL": f"jdbc:sqlite:{db}"},
        )
        try:
            sts_pid = start_sts(args.sts_port)
        except RuntimeError as exc:
            engine.stop()
            raise SystemExit(str(exc)) from None
        servers = {
            "ours": (engine.port, "__sql:SELECT s FROM big", engine.proc.pid),
            "STS": (args.sts_port, f"SELECT CAST(id AS STRING) AS s FROM range({args.rows})", sts_pid),
        }
        full: dict[str, list[float]] = {name: [] for name in servers}
        one: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        try:
            for port, sql, _ in servers.values():  # warm both (JIT, caches, first session)
                beeline(home, port, sql)
            for round_ in range(args.rounds):
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    port, sql, pid = servers[name]
                    before = cpu_seconds(pid)
                    profiler = None
                    if args.profile and name == "ours":
                        profiler = Profiler(pid, Path(f"{args.profile}.{round_}"))
                    rows, took = beeline(home, port, sql)
                    if profiler is not None:
                        profiler.stop()
                        profiler.summarize()
                    cpu[name].append(cpu_seconds(pid) - before)
                    if rows != args.rows:
                        raise SystemExit(f"{name}: beeline printed {rows} rows, expected {args.rows}")
                    full[name].append(took)
                    rows, took = beeline(home, port, f"{sql} LIMIT 1")
                    if rows != 1:
                        raise SystemExit(f"{name}: beeline printed {rows} rows for LIMIT 1")
                    one[name].append(took)
                    print(
                        f"  round {round_ + 1} {name:4}: {full[name][-1]:6.2f} s ({one[name][-1]:.2f} s for one row)",
                        flush=True,
                    )
        finally:
            stop_sts(args.sts_port)
            engine.stop()
    print(
        f"beeline --incremental=true --outputformat=tsv2, {args.rows:,} rows, {args.rounds} rounds (medians)"
    )
    summary = {}
    for name in servers:
        total, start = statistics.median(full[name]), statistics.median(one[name])
        summary[name] = total - start
        print(
            f"  {name:4}: {total:6.2f} s in all, {start:5.2f} s for one row, {total - start:6.2f} s for the rows "
            f"= {args.rows / max(total - start, 1e-9):,.0f} rows/s; server CPU {statistics.median(cpu[name]):.2f} s"
        )
    ratio_all = statistics.median(full["STS"]) / statistics.median(full["ours"])
    print(
        f"  ratio STS/ours: {ratio_all:.2f} in all, {summary['STS'] / summary['ours']:.2f} for the rows "
        "(target >= 1.0)"
    )


if __name__ == "__main__":
    main()
