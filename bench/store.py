"""Run registry benchmark: a 10,000-event run with the store and without it, on SQLite and on
PostgreSQL. Prints figures; asserts nothing.

Two drivers (``--driver``):

- ``engine`` (default): a real engine run. The scripted LLM runs in its own process and streams one
  reply whose reasoning and text chunks alternate, so each chunk becomes one event row (about
  10,000 rows in one step). Two engines run in their own processes, on the same LLM: one with the
  run registry on the backend, one with ``store.enabled=false``. The client (PyHive, this process)
  asks the question and reads every row (``fetchmany(10000)`` until empty); a run's wall time is
  from ExecuteStatement to its last row, which with the store comes after the run's barrier (its
  last event and final status committed). Runs alternate between the two engines. The engine with
  the store reports its writer's events per transaction and append->commit latencies.
- ``buffer``: the run as an operation drives it, without an engine: a producer appends to an
  ``IncrementalFetchBuffer`` (and to the run's journal), a consumer thread reads it, and the run
  ends with the barrier; ``burst`` and ``paced`` (``--rate``) runs.

Figures per backend: the median wall time without and with the store and the slowdown (target
<= 10%), events per transaction, and the latency from an event's append to its commit (p50, p99).

    .venv/bin/python bench/store.py [--driver engine|buffer] [--events 10000] [--repeats 5]
        [--backends sqlite,postgresql] [--rate 5000]

``RunDriver`` is the buffer driver's seam; the engine driver starts its processes with
``--serve-llm`` and ``--serve-engine`` (internal modes of this script).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.common.record import RunStatus
from engine.operation.fetch_buffer import FetchOrientation, IncrementalFetchBuffer
from engine.store import RunStore
from tests.support.databases import pg_database


@dataclass
class RunResult:
    wall: float  # from the first event to the consumer's last row and the committed end
    append_seconds: float  # time the producer spent appending (buffer + journal)
    rows: int


class RunDriver(Protocol):
    def run(self, store: RunStore | None, events: int, rate: float | None) -> RunResult: ...


def _payloads(count: int) -> list[tuple[str, str]]:
    """Event rows shaped like a real run's: deltas, then a tool call and result every 200."""
    rows: list[tuple[str, str]] = [("agent_start", '{"type":"agent_start","runId":"r","conversationId":"c"}')]
    for n in range(1, count - 1):
        if n % 200 == 0:
            rows.append(
                ("tool_result", json.dumps({"type": "tool_result", "id": f"call_{n}", "output": "x" * 400}))
            )
        else:
            rows.append(
                ("content_delta", json.dumps({"type": "content_delta", "text": f"token {n} of the answer "}))
            )
    rows.append(("agent_finish", '{"type":"agent_finish","steps":3}'))
    return rows


class BufferDriver:
    """An operation without an engine: producer -> fetch buffer (+ journal) -> consumer thread."""

    def run(self, store: RunStore | None, events: int, rate: float | None) -> RunResult:
        rows = _payloads(events)
        buffer = IncrementalFetchBuffer()
        consumed = [0]

        def consume() -> None:
            while True:
                chunk = buffer.fetch(FetchOrientation.FETCH_NEXT, 1000, wait=0.2)
                consumed[0] += len(chunk.items)
                if not chunk.has_more:
                    return

        consumer = threading.Thread(target=consume, name="bench-fetch")
        journal = store.start_run(uuid.uuid4().hex, "bench", "benchmark question") if store else None
        interval = 1.0 / rate if rate else 0.0
        appending = 0.0
        started = time.perf_counter()
        consumer.start()
        for index, (event_type, payload) in enumerate(rows):
            if interval:
                due = started + index * interval
                while (now := time.perf_counter()) < due:  # pacing of a streaming LLM
                    time.sleep(min(due - now, 0.001))
            before = time.perf_counter()
            buffer.append(payload)
            if journal is not None:
                journal.append(event_type, payload)
            appending += time.perf_counter() - before
        if journal is not None:
            journal.finish(RunStatus.SUCCESS, steps=3)
            if not journal.wait_committed(30.0):
                print("  (the barrier timed out)")
        buffer.finish()
        consumer.join(60.0)
        return RunResult(time.perf_counter() - started, appending, consumed[0])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


@contextmanager
def store_url(backend: str) -> Iterator[str]:
    """A fresh store for one backend: a SQLite file or a new PostgreSQL database."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
            yield f"sqlite:///{tmp}/store.db"
        return
    with pg_database("bench_store") as name:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"


@contextmanager
def store_at(backend: str) -> Iterator[RunStore]:
    with store_url(backend) as url:
        store = RunStore.open(url)
        try:
            yield store
        finally:
            store.close()


def bench_buffer(driver: RunDriver, backend: str, events: int, repeats: int, rate: float | None) -> None:
    pace = f"paced {rate:.0f}/s" if rate else "burst"
    with store_at(backend) as store:
        driver.run(store, min(events, 1000), rate=None)  # warm up: connections, statements
        before_sizes = len(store.writer.batch_sizes())
        before_latencies = len(store.writer.latencies())
        without: list[RunResult] = []
        with_store: list[RunResult] = []
        for _ in range(repeats):  # interleaved, so both see the same machine
            without.append(driver.run(None, events, rate))
            with_store.append(driver.run(store, events, rate))
        sizes = store.writer.batch_sizes()[before_sizes:]
        latencies = store.writer.latencies()[before_latencies:]
        stats = store.stats()
    base = statistics.median(result.wall for result in without)
    stored = statistics.median(result.wall for result in with_store)
    per_append_base = statistics.median(result.append_seconds for result in without) / events * 1e6
    per_append = statistics.median(result.append_seconds for result in with_store) / events * 1e6
    print(
        f"{backend:10} {pace:12} run without store {base * 1000:8.1f} ms, with store {stored * 1000:8.1f} ms, "
        f"slowdown {(stored / base - 1) * 100:+6.1f}%"
    )
    print(
        f"{'':10} {'':12} append {per_append_base:5.2f} us -> {per_append:5.2f} us per event; "
        f"events/transaction mean {statistics.fmean(sizes) if sizes else 0:6.1f}, max {max(sizes, default=0)}; "
        f"append->commit p50 {pct(latencies, 50) * 1000:5.1f} ms, p99 {pct(latencies, 99) * 1000:5.1f} ms; "
        f"dropped {stats.events_dropped}, rows read {with_store[-1].rows}"
    )


# --- the engine driver: the scripted LLM and two engines, each in its own process ----------------
def reply_parts(events: int) -> tuple[list[str], list[str]]:
    """Reasoning and text chunks that alternate: each becomes one event row (the run adds
    agent_start, step_start, step_end and agent_finish)."""
    half = max(1, (events - 4) // 2)
    return [f"thinking {n} " for n in range(half)], [f"token {n} of the answer " for n in range(half)]


def serve_llm(events: int) -> None:
    """``--serve-llm``: the scripted LLM, answering every question with the same long reply."""
    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    reasoning, text = reply_parts(events)
    reply = Reply(text=text, reasoning=reasoning, interleave=True, usage=(1000, 200))
    with FakeOpenAIServer(responder=lambda body: reply, record=False) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the bench closes our stdin


def serve_engine(conf_json: str) -> None:
    """``--serve-engine``: one engine; prints ``host port``, then answers ``mark``/``stats`` lines
    on stdin with its store writer's figures (JSON) and stops at EOF."""
    from engine.app import EngineApp
    from engine.common.config import EngineConf

    values = json.loads(conf_json)
    app = EngineApp(EngineConf.load([f"{key}={value}" for key, value in values.items()], environ={}))
    host, port = app.start()
    print(host, port, flush=True)
    marks = (0, 0)
    try:
        for line in sys.stdin:
            store = app.store
            sizes = store.writer.batch_sizes() if store is not None else []
            latencies = store.writer.latencies() if store is not None else []
            if line.strip() == "mark":
                marks = (len(sizes), len(latencies))
                print("{}", flush=True)
            elif line.strip() == "stats":
                sizes, latencies = sizes[marks[0] :], latencies[marks[1] :]
                print(
                    json.dumps(
                        {
                            "per_transaction": statistics.fmean(sizes) if sizes else 0.0,
                            "max_per_transaction": max(sizes, default=0),
                            "p50": pct(latencies, 50),
                            "p99": pct(latencies, 99),
                            "dropped": store.stats().events_dropped if store is not None else 0,
                        }
                    ),
                    flush=True,
                )
    finally:
        app.stop()


@dataclass
class Child:
    """A process of this script in one of its serving modes, talked to over stdin/stdout."""

    process: subprocess.Popen[str]

    @classmethod
    def start(cls, *args: str) -> Child:
        process = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        return cls(process)

    def line(self) -> str:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        text = stdout.readline()
        if not text:
            raise RuntimeError(f"{self.process.args} exited ({self.process.wait()})")
        return text.strip()

    def ask(self, command: str) -> str:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()
        return self.line()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def engine_conf(work: Path, llm_url: str, datasource: Path, store: str | None) -> dict[str, str]:
    conf = {
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        A + "work.dir": str(work),
        A + "provider": "OPENAI_COMPATIBLE",
        A + "openai.endpoint": llm_url,
        A + "openai.api.key": "sk-bench-0123456789abcdefghij",
        A + "model": "fake-model",
        A + "jdbc.url": f"jdbc:sqlite:{datasource}",
        "kyuubi.engine.data.agent.log.level": "WARNING",
    }
    if store is None:
        conf[A + "store.enabled"] = "false"
    else:
        conf[A + "store.url"] = store
    return conf


A = "kyuubi.engine.data.agent."


def timed_run(host: str, port: int) -> tuple[float, int]:
    """(seconds from ExecuteStatement to the last row, rows) of one question through PyHive."""
    from pyhive import hive

    with hive.connect(host, port, username="bench") as connection:
        cursor = connection.cursor()
        started = time.perf_counter()
        cursor.execute("stream me a long answer", async_=True)
        count = 0
        while batch := cursor.fetchmany(10_000):
            count += len(batch)
        return time.perf_counter() - started, count


def bench_engine(backend: str, events: int, repeats: int) -> None:
    import sqlite3

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-engine-")))
        datasource = tmp / "shop.db"
        with sqlite3.connect(datasource) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")
        url = stack.enter_context(store_url(backend))
        llm = Child.start("--serve-llm", str(events))
        stack.callback(llm.stop)
        llm_url = llm.line()
        engines = {}
        for name, store in (("without", None), ("with", url)):
            child = Child.start(
                "--serve-engine", json.dumps(engine_conf(tmp / name, llm_url, datasource, store))
            )
            stack.callback(child.stop)
            host, port = child.line().split()
            engines[name] = (child, host, int(port))
        for _, host, port in engines.values():
            timed_run(host, port)  # warm up: connections, the LLM client, statements
        engines["with"][0].ask("mark")
        walls: dict[str, list[float]] = {"without": [], "with": []}
        rows: dict[str, int] = {}
        for _ in range(repeats):  # interleaved, so both see the same machine
            for name, (_, host, port) in engines.items():
                wall, count = timed_run(host, port)
                walls[name].append(wall)
                rows[name] = count
        stats = json.loads(engines["with"][0].ask("stats"))
    base, stored = statistics.median(walls["without"]), statistics.median(walls["with"])
    print(
        f"{backend:10} engine run of {rows['with']} rows: without store {base * 1000:8.1f} ms, "
        f"with store {stored * 1000:8.1f} ms, slowdown {(stored / base - 1) * 100:+6.1f}% "
        f"(best {min(walls['without']) * 1000:.1f} / {min(walls['with']) * 1000:.1f} ms)"
    )
    print(
        f"{'':10} events/transaction mean {stats['per_transaction']:6.1f}, max {stats['max_per_transaction']}; "
        f"append->commit p50 {stats['p50'] * 1000:5.1f} ms, p99 {stats['p99'] * 1000:5.1f} ms; "
        f"dropped {stats['dropped']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--driver", choices=("engine", "buffer"), default="engine")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rate", type=float, default=5000.0, help="events per second of paced buffer runs")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--serve-llm", type=int, metavar="EVENTS", help=argparse.SUPPRESS)
    parser.add_argument("--serve-engine", metavar="CONF_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.serve_llm is not None:
        serve_llm(args.serve_llm)
        return
    if args.serve_engine is not None:
        serve_engine(args.serve_engine)
        return
    print(f"{args.events} events per run, median of {args.repeats} runs each ({args.driver} driver)")
    for backend in (name.strip() for name in args.backends.split(",")):
        if args.driver == "engine":
            bench_engine(backend, args.events, args.repeats)
            continue
        driver = BufferDriver()
        for rate in (None, args.rate):
            bench_buffer(driver, backend, args.events, args.repeats, rate)


if __name__ == "__main__":
    main()
