"""Run registry benchmark: a 10,000-event run with the store and without it, in the same run, on
SQLite and on PostgreSQL. Prints figures; asserts nothing.

Until the store is wired into operations, a run is driven the way an operation will drive it:
a producer appends each event to an ``IncrementalFetchBuffer`` (and, with the store, to the run's
journal), a consumer thread reads the buffer as FetchResults would, and the run ends with the
journal's barrier (``finish`` + ``wait_committed``) before it counts as done. Two paces:

- ``burst``: events as fast as the producer can make them (the store's cost per event shows);
- ``paced``: events at ``--rate`` per second (a streaming LLM), where the store should cost only
  the final barrier.

Figures per backend and pace: the median wall time of a run without and with the store and the
slowdown, the producer's cost per append, events per transaction, and the latency from an event's
append to its commit (p50, p99).

    .venv/bin/python bench/store.py [--events 10000] [--repeats 5] [--rate 5000] [--backends sqlite,postgresql]

``RunDriver`` is the seam: a later driver can start a real engine and run a question instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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
def store_at(backend: str) -> Iterator[RunStore]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
            store = RunStore.open(f"sqlite:///{tmp}/store.db")
            try:
                yield store
            finally:
                store.close()
        return
    with pg_database("bench_store") as name:
        store = RunStore.open(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            yield store
        finally:
            store.close()


def bench(driver: RunDriver, backend: str, events: int, repeats: int, rate: float | None) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rate", type=float, default=5000.0, help="events per second of the paced runs")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    driver = BufferDriver()
    print(f"{args.events} events per run, median of {args.repeats} runs each")
    for backend in args.backends.split(","):
        for rate in (None, args.rate):
            bench(driver, backend.strip(), args.events, args.repeats, rate)


if __name__ == "__main__":
    main()
