#!/usr/bin/env python3
"""Typed results streamed from the datasource, against Spark Thrift Server, in one run.

For each row count (default 100k, 1M, 10M): a SQLite table ``big(s TEXT)`` holding
``str(i)`` for i in 0..N-1 (the same strings as Spark's ``CAST(id AS STRING) FROM range(N)``) is
read with ``__sql: SELECT s FROM big`` by PyHive ``fetchmany(10000)`` and by impyla
``fetchmany(10000)``; Spark Thrift Server runs ``SELECT CAST(id AS STRING) AS s FROM range(N)``
through the same clients. Each figure is the median of ``--repeat`` runs, execute + fetch of every
row, timed in the client process. The engine runs in its own process (``--serve``); its RSS is
sampled every 20 ms during each read (peak minus the RSS before the read is the read's cost) and
its peak over the whole run is reported too.

Prints one line per (server, client, rows) and, with matplotlib, writes
``bench/results/fetch_time_vs_rows.png`` and ``bench/results/engine_rss_vs_rows.png``.

usage: bench/stream.py [--rows 100000,1000000,10000000] [--repeat 3] [--no-sts] [--clients pyhive,impyla]
       bench/stream.py --paired 1000000 [--repeat 5]   (ours and STS alternating, round by round)
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

from bench.procs import start_sts, stop_sts, sts_available  # noqa: E402

ARRAYSIZE = 10_000


# --- the engine (child process) -----------------------------------------------------------------
def serve(jdbc_url: str, work: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from engine.app import EngineApp
    from engine.common.config import EngineConf

    conf = EngineConf.load(
        [
            "kyuubi.frontend.thrift.binary.bind.host=127.0.0.1",
            "kyuubi.frontend.thrift.binary.bind.port=0",
            "kyuubi.authentication=NONE",
            "kyuubi.frontend.protocols=THRIFT_BINARY",  # no REST port to collide with STS's
            f"kyuubi.engine.data.agent.work.dir={work}",
            f"kyuubi.engine.data.agent.jdbc.url={jdbc_url}",
        ],
        environ={},
    )
    app = EngineApp(conf)
    _, port = app.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    app.stop()


def rss_mib(pid: int, field: str = "VmRSS:") -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for entry in status:
            if entry.startswith(field):
                return int(entry.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """The peak RSS of a process while a block runs (sampled every 20 ms on a named thread)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> RssSampler:
        self.peak = rss_mib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1.0)


# --- clients ------------------------------------------------------------------------------------
def _read_all(conn: Any, sql: str) -> tuple[int, float]:
    """Execute ``sql`` on a DB-API connection and fetchmany(ARRAYSIZE) to the end: (rows, seconds);
    the connection is closed after."""
    try:
        cursor = conn.cursor()
        cursor.arraysize = ARRAYSIZE
        started = time.perf_counter()
        cursor.execute(sql)
        rows = 0
        while batch := cursor.fetchmany(ARRAYSIZE):
            rows += len(batch)
        return rows, time.perf_counter() - started
    finally:
        conn.close()


def read_pyhive(port: int, sql: str) -> tuple[int, float]:
    from pyhive import hive

    return _read_all(hive.connect("127.0.0.1", port, username="bench", auth="NONE"), sql)


def read_impyla(port: int, sql: str) -> tuple[int, float]:
    from impala.dbapi import connect

    return _read_all(connect("127.0.0.1", port, auth_mechanism="PLAIN", user="bench", password="x"), sql)


def read_raw(port: int, sql: str) -> tuple[int, float]:
    """thriftpy2's C client (SASL PLAIN, FetchResults of 10,000 rows): decoding costs the client
    ~1.4 ms per batch and no per-row Python, so the time is mostly the server's."""
    import socket
    import struct

    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.thrift import TClient
    from thriftpy2.transport import TFramedTransport, TSocket

    from engine.frontend.idl import TCLI

    tsocket = TSocket("127.0.0.1", port, socket_timeout=600_000, connect_timeout=30_000)
    tsocket.open()
    sock: socket.socket = tsocket.sock
    for status, payload in ((1, b"PLAIN"), (2, b"\0bench\0x")):
        sock.sendall(struct.pack(">BI", status, len(payload)) + payload)
    header = sock.recv(5, socket.MSG_WAITALL)
    sock.recv(struct.unpack(">BI", header)[1], socket.MSG_WAITALL)
    transport = TFramedTransport(tsocket)
    client = TClient(TCLI.TCLIService, TBinaryProtocol(transport))
    try:
        session = client.OpenSession(TCLI.TOpenSessionReq(client_protocol=5, username="bench")).sessionHandle
        started = time.perf_counter()
        handle = client.ExecuteStatement(
            TCLI.TExecuteStatementReq(sessionHandle=session, statement=sql, runAsync=False)
        ).operationHandle
        rows = 0
        while True:
            response = client.FetchResults(
                TCLI.TFetchResultsReq(operationHandle=handle, orientation=0, maxRows=ARRAYSIZE)
            )
            got = len(response.results.columns[0].stringVal.values) if response.results.columns else 0
            rows += got
            if not got:
                break
        seconds = time.perf_counter() - started
        client.CloseOperation(TCLI.TCloseOperationReq(operationHandle=handle))
        client.CloseSession(TCLI.TCloseSessionReq(sessionHandle=session))
        return rows, seconds
    finally:
        transport.close()


CLIENTS: dict[str, Callable[[int, str], tuple[int, float]]] = {
    "pyhive": read_pyhive,
    "impyla": read_impyla,
    "raw": read_raw,
}


def make_table(path: Path, rows: int) -> None:
    if path.exists():
        return
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE big (s TEXT)")
        db.executemany("INSERT INTO big VALUES (?)", ((str(i),) for i in range(rows)))


def measure(
    reader: Callable[[int, str], tuple[int, float]], port: int, sql: str, rows: int, repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        got, seconds = reader(port, sql)
        if got != rows:
            raise SystemExit(f"expected {rows} rows, read {got}")
        times.append(seconds)
    return statistics.median(times)


def start_engine(db: Path, work: Path) -> tuple[subprocess.Popen[str], int]:
    """Our engine (``--serve``) on the SQLite file ``db``, in its own process: (process, port)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", f"jdbc:sqlite:{db}", str(work / "engine-work")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = child.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("READY"):
        child.kill()
        raise SystemExit(f"engine did not start: {line!r}")
    return child, int(line.split()[1])


def stop_engine(child: subprocess.Popen[str]) -> None:
    child.stdin.close()  # type: ignore[union-attr]
    try:
        child.wait(30)
    except subprocess.TimeoutExpired:
        child.kill()


def bench_ours(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], float]:
    results: dict[str, Any] = {}
    peak = 0.0
    for rows in args.rows:
        db = work / f"big_{rows}.db"
        make_table(db, rows)
        child, port = start_engine(db, work)
        try:
            read_pyhive(port, "__sql: SELECT s FROM big LIMIT 10")  # warm up imports and the pool
            before = rss_mib(child.pid)
            for name in args.clients:
                with RssSampler(child.pid) as sampler:
                    seconds = measure(CLIENTS[name], port, "__sql: SELECT s FROM big", rows, args.repeat)
                results[f"{name}/{rows}"] = {
                    "seconds": seconds,
                    "rss_peak": sampler.peak,
                    "rss_before": before,
                }
                print(
                    f"ours {name:6} {rows:>10,} rows: {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s, "
                    f"engine RSS {before:.0f} -> peak {sampler.peak:.0f} MiB",
                    flush=True,
                )
            peak = max(peak, rss_mib(child.pid, "VmHWM:"))
        finally:
            stop_engine(child)
    return results, peak


def bench_sts(args: argparse.Namespace) -> dict[str, Any]:
    if args.no_sts or not sts_available():
        return {}
    try:
        start_sts(args.sts_port)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return {}
    results: dict[str, Any] = {}
    try:
        read_pyhive(args.sts_port, "SELECT CAST(id AS STRING) AS s FROM range(10)")  # warm up
        for rows in args.rows:
            sql = f"SELECT CAST(id AS STRING) AS s FROM range({rows})"
            for name in args.clients:
                try:
                    seconds = measure(CLIENTS[name], args.sts_port, sql, rows, args.repeat)
                except Exception as exc:  # STS collects the whole result in its driver: it may OOM
                    print(f"STS  {name:6} {rows:>10,} rows: failed: {str(exc)[-300:]}", flush=True)
                    continue
                results[f"{name}/{rows}"] = {"seconds": seconds}
                print(
                    f"STS  {name:6} {rows:>10,} rows: {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s",
                    flush=True,
                )
    finally:
        stop_sts(args.sts_port)
    return results


def bench_paired(args: argparse.Namespace, work: Path) -> None:
    """``--paired N``: our engine and Spark Thrift Server both up, N rows read by each client from
    one then the other, alternating which goes first, ``--repeat`` rounds; prints every round and
    the medians. The machine's drift then falls on both alike."""
    rows = args.paired
    db = work / f"big_{rows}.db"
    make_table(db, rows)
    child, port = start_engine(db, work)
    try:
        try:
            start_sts(args.sts_port)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
        servers = {
            "ours": (port, "__sql: SELECT s FROM big"),
            "STS": (args.sts_port, f"SELECT CAST(id AS STRING) AS s FROM range({rows})"),
        }
        for port, sql in servers.values():  # warm up imports, pools, the JIT
            read_pyhive(port, f"{sql} LIMIT 10")
        for name in args.clients:
            times: dict[str, list[float]] = {"ours": [], "STS": []}
            for round_ in range(args.repeat):
                order = ["ours", "STS"] if round_ % 2 == 0 else ["STS", "ours"]
                for server in order:
                    port, sql = servers[server]
                    times[server].append(measure(CLIENTS[name], port, sql, rows, 1))
                ratio = times["STS"][-1] / times["ours"][-1]
                print(
                    f"  {name:6} round {round_ + 1}: ours {times['ours'][-1]:6.2f} s, "
                    f"STS {times['STS'][-1]:6.2f} s, ratio {ratio:.2f}",
                    flush=True,
                )
            ours, sts = statistics.median(times["ours"]), statistics.median(times["STS"])
            ratios = [b / a for a, b in zip(times["ours"], times["STS"], strict=True)]
            print(
                f"{name:6} {rows:,} rows, median of {args.repeat}: ours {ours:.2f} s "
                f"({rows / ours:,.0f} rows/s), STS {sts:.2f} s; ratio STS/ours {sts / ours:.2f} "
                f"(per round {min(ratios):.2f}-{max(ratios):.2f})",
                flush=True,
            )
    finally:
        stop_sts(args.sts_port)
        stop_engine(child)


def plot(args: argparse.Namespace, ours: dict[str, Any], sts: dict[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNGs", file=sys.stderr)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = f"{os.cpu_count()} CPUs (shared), median of {args.repeat}"
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in args.clients:
        axes.plot(args.rows, [ours[f"{name}/{r}"]["seconds"] for r in args.rows], "o-", label=f"ours, {name}")
        done = [r for r in args.rows if f"{name}/{r}" in sts]
        if done:
            axes.plot(done, [sts[f"{name}/{r}"]["seconds"] for r in done], "s--", label=f"STS, {name}")
    axes.set(xscale="log", yscale="log", xlabel="rows", ylabel="execute + fetch (s)")
    axes.set_title(
        f"__sql: SELECT s FROM big (SQLite) vs STS range(N); fetchmany(10000)\n{machine}", fontsize=9
    )
    axes.legend()
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(RESULTS / "fetch_time_vs_rows.png", dpi=110)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in args.clients:
        axes.plot(
            args.rows,
            [ours[f"{name}/{r}"]["rss_peak"] for r in args.rows],
            "o-",
            label=f"peak during read, {name}",
        )
    axes.plot(
        args.rows,
        [ours[f"{args.clients[0]}/{r}"]["rss_before"] for r in args.rows],
        "k:",
        label="before the read",
    )
    axes.set(xscale="log", xlabel="rows", ylabel="engine RSS (MiB)", ylim=(0, None))
    axes.set_title(f"engine RSS while streaming __sql: results\n{machine}", fontsize=9)
    axes.legend()
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(RESULTS / "engine_rss_vs_rows.png", dpi=110)
    print(f"wrote {RESULTS / 'fetch_time_vs_rows.png'} and {RESULTS / 'engine_rss_vs_rows.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--rows", default="100000,1000000,10000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default="pyhive,impyla")
    parser.add_argument("--sts-port", type=int, default=10099)
    parser.add_argument("--no-sts", action="store_true")
    parser.add_argument("--work", help="keep the SQLite tables here between runs")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--paired", type=int, help="only N rows, ours and STS alternating per round")
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    args.rows = [int(value) for value in args.rows.split(",")]
    args.clients = args.clients.split(",")
    if args.paired:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work or tmp)
            work.mkdir(parents=True, exist_ok=True)
            bench_paired(args, work)
        return
    print(f"machine: {os.cpu_count()} CPUs shared with other work, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        ours, peak = bench_ours(args, work)
    sts = bench_sts(args)
    print(f"engine peak RSS over the whole run (VmHWM): {peak:.0f} MiB")
    if sts:
        for rows in args.rows:
            for name in (name for name in args.clients if f"{name}/{rows}" in sts):
                ratio = sts[f"{name}/{rows}"]["seconds"] / ours[f"{name}/{rows}"]["seconds"]
                print(f"ratio STS time / our time, {name:6} {rows:>10,} rows: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"ours": ours, "sts": sts, "peak_rss": peak}, indent=1))
    plot(args, ours, sts)


if __name__ == "__main__":
    main()
