#!/usr/bin/env python3
"""FetchResults benchmark: our engine vs Spark Thrift Server, same client, same run.

Prints:
  * time and rows/s to fetch 1,000,000 buffered one-column string rows with PyHive
    fetchmany(10000), ours and Spark Thrift Server's ``SELECT CAST(id AS STRING) FROM range(N)``;
  * p50/p99 latency from a row being appended to its arrival at a polling client;
  * GetOperationStatus round-trip p50;
  * the engine's peak RSS.

The engine runs as a child process (``--serve``) with a bench provider: statement ``bulk N``
emits N rows at once (agent_start, N-2 step_start, agent_finish); ``ticks N MS`` emits N
``content_delta`` rows carrying their append time, one every MS milliseconds.

usage: bench/fetch.py [--rows 1000000] [--arraysize 10000] [--sts-port 10099] [--no-sts] [--auth NONE|NOSASL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import start_sts, stop_sts, sts_available  # noqa: E402


# --- the engine side (child process) ----------------------------------------------------------
class BenchProvider:
    name = "BENCH"

    def open_session(self, session: object) -> None:
        return None

    def close_session(self, session: object) -> None:
        return None

    def run(self, request: object) -> Iterator[object]:
        from engine.agent.events import AgentFinishEvent, AgentStartEvent, ContentDeltaEvent, StepStartEvent

        words = request.question.split()  # type: ignore[attr-defined]
        cancel = request.cancel  # type: ignore[attr-defined]
        yield AgentStartEvent()
        if words[0] == "bulk":
            for step in range(int(words[1]) - 2):
                yield StepStartEvent(step)
        elif words[0] == "ticks":
            count, interval = int(words[1]), float(words[2]) / 1000.0
            for _ in range(count):
                if cancel.wait(interval):
                    break
                yield ContentDeltaEvent(str(time.time_ns()))
        yield AgentFinishEvent(steps=1)

    def close(self) -> None:
        return None


def serve(auth: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from engine.backend import BackendService
    from engine.common.config import EngineConf
    from engine.common.deadline import DeadlineScheduler
    from engine.frontend.server import ThriftServer
    from engine.operation.manager import OperationManager
    from engine.session.manager import SessionManager

    conf = EngineConf.load(
        [
            "kyuubi.frontend.thrift.binary.bind.port=0",
            f"kyuubi.authentication={auth}",
            f"kyuubi.engine.data.agent.work.dir={Path(os.environ.get('TMPDIR', '/tmp')) / 'bench-fetch-work'}",
        ],
        environ={},
    )
    scheduler = DeadlineScheduler("bench-deadline-scheduler")
    operations = OperationManager(conf, scheduler)
    sessions = SessionManager(conf, BenchProvider(), operations)  # type: ignore[arg-type]
    backend = BackendService(conf, sessions)
    server = ThriftServer(conf, backend)
    _, port = server.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()
    backend.stop()
    scheduler.close()


# --- the client side --------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def fetch_all(cursor: object, arraysize: int) -> tuple[int, int, float]:
    rows = size = 0
    start = time.perf_counter()
    while True:
        batch = cursor.fetchmany(arraysize)  # type: ignore[attr-defined]
        if not batch:
            break
        rows += len(batch)
        size += sum(len(row[0]) for row in batch)
    return rows, size, time.perf_counter() - start


def connect(port: int, auth: str) -> object:
    from pyhive import hive

    return hive.connect("127.0.0.1", port, username="bench", auth=auth)


def bench_ours(args: argparse.Namespace) -> dict[str, float]:
    from pyhive import hive  # noqa: F401
    from TCLIService.ttypes import TFetchResultsReq, TGetOperationStatusReq, TOperationState

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--auth", args.auth],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("READY"):
            raise SystemExit(f"engine did not start: {line!r}")
        port = int(line.split()[1])
        results: dict[str, float] = {}
        conn = connect(port, args.auth)
        cursor = conn.cursor()  # type: ignore[attr-defined]
        cursor.arraysize = args.arraysize
        started = time.perf_counter()
        cursor.execute(f"bulk {args.rows}", async_=True)
        while cursor.poll().operationState != TOperationState.FINISHED_STATE:
            pass
        results["buffer_s"] = time.perf_counter() - started
        rows, size, seconds = fetch_all(cursor, args.arraysize)
        results.update(rows=rows, fetch_s=seconds, bytes_per_row=size / max(rows, 1))

        # GetOperationStatus round trip on that operation
        client = conn.client  # type: ignore[attr-defined]
        request = TGetOperationStatusReq(operationHandle=cursor._operationHandle)
        samples = []
        for _ in range(args.status_calls):
            t0 = time.perf_counter()
            client.GetOperationStatus(request)
            samples.append(time.perf_counter() - t0)
        results["status_p50_ms"] = percentile(samples, 0.5) * 1000
        results["status_p99_ms"] = percentile(samples, 0.99) * 1000
        cursor.close()

        # latency: rows appended every tick_ms; a client polls FetchResults(FETCH_NEXT) in a loop
        # (PyHive's own Thrift client: fetchmany() would hold rows back until it has ``size``)
        cursor = conn.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"ticks {args.ticks} {args.tick_ms}", async_=True)
        fetch = TFetchResultsReq(operationHandle=cursor._operationHandle, orientation=0, maxRows=1000)
        latencies: list[float] = []
        while True:
            response = client.FetchResults(fetch)
            arrived = time.time_ns()
            values = response.results.columns[0].stringVal.values
            for row in values:
                event = json.loads(row)
                if event["type"] == "content_delta":
                    latencies.append((arrived - int(event["text"])) / 1e6)
            if not values and not response.hasMoreRows:
                break
        results["latency_rows"] = len(latencies)
        results["latency_p50_ms"] = percentile(latencies, 0.5) if latencies else float("nan")
        results["latency_p99_ms"] = percentile(latencies, 0.99) if latencies else float("nan")
        cursor.close()
        conn.close()  # type: ignore[attr-defined]
        with open(f"/proc/{child.pid}/status", encoding="ascii") as status:
            for entry in status:
                if entry.startswith("VmHWM:"):
                    results["peak_rss_mb"] = int(entry.split()[1]) / 1024
        return results
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


def bench_sts(args: argparse.Namespace) -> dict[str, float] | None:
    if args.no_sts or not sts_available():
        return None
    try:
        start_sts(args.sts_port, args.auth)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return None
    try:
        conn = connect(args.sts_port, args.auth)
        cursor = conn.cursor()  # type: ignore[attr-defined]
        cursor.arraysize = args.arraysize
        t0 = time.perf_counter()
        cursor.execute(f"SELECT CAST(id AS STRING) AS s FROM range({args.rows})")
        execute = time.perf_counter() - t0
        rows, size, seconds = fetch_all(cursor, args.arraysize)
        cursor.close()
        conn.close()  # type: ignore[attr-defined]
        return {"rows": rows, "execute_s": execute, "fetch_s": seconds, "bytes_per_row": size / max(rows, 1)}
    finally:
        stop_sts(args.sts_port)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--auth", default="NONE", choices=("NONE", "NOSASL"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--arraysize", type=int, default=10_000)
    parser.add_argument("--status-calls", type=int, default=2000)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--tick-ms", type=float, default=5.0)
    parser.add_argument("--sts-port", type=int, default=10099)
    parser.add_argument("--no-sts", action="store_true")
    args = parser.parse_args()
    if args.serve:
        serve(args.auth)
        return
    ours = bench_ours(args)
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, client PyHive fetchmany({args.arraysize}), "
        f"auth {args.auth}"
    )
    print(
        f"ours : {ours['rows']:,.0f} rows ({ours['bytes_per_row']:.1f} B/row) fetched in {ours['fetch_s']:.2f} s "
        f"= {ours['rows'] / ours['fetch_s']:,.0f} rows/s (buffered beforehand in {ours['buffer_s']:.2f} s)"
    )
    sts = bench_sts(args)
    if sts is not None:
        print(
            f"STS  : {sts['rows']:,.0f} rows ({sts['bytes_per_row']:.1f} B/row) fetched in {sts['fetch_s']:.2f} s "
            f"= {sts['rows'] / sts['fetch_s']:,.0f} rows/s (execute {sts['execute_s']:.2f} s; "
            f"execute+fetch {sts['execute_s'] + sts['fetch_s']:.2f} s)"
        )
        print(
            f"ratio (STS fetch time / our fetch time): {sts['fetch_s'] / ours['fetch_s']:.2f}  (target >= 1.0)"
        )
    print(
        f"append -> polling client latency over {ours['latency_rows']:.0f} rows: p50 {ours['latency_p50_ms']:.1f} ms, "
        f"p99 {ours['latency_p99_ms']:.1f} ms  (target p50 <= 20 ms)"
    )
    print(
        f"GetOperationStatus round trip: p50 {ours['status_p50_ms']:.3f} ms, p99 {ours['status_p99_ms']:.3f} ms"
    )
    print(f"engine peak RSS: {ours.get('peak_rss_mb', float('nan')):.0f} MiB")


if __name__ == "__main__":
    main()
