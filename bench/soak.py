"""Soak: mixed load on one engine for a while; is it flat, and is nothing lost? Not in CI. Prints
figures; asserts nothing.

Three processes: the engine (``python -m engine``, its runs in a SQLite store, metrics on their
own port), the scripted LLM (``--serve-llm``), and this one, where ``--sessions`` client threads
(default 50) each hold a PyHive connection and, until ``--minutes`` (default 10) pass, pick at
random: ask a question (a tool call, then an answer), run SQL, ask and approve or deny a gated
tool call, ask a slow question and cancel it, or ask a slow one and drop the connection (then
connect again). Every ``--sample`` seconds it reads the engine's RSS, threads and open files from
/proc. At the end it compares what every client received with the run store (lost events: an
event a client got that the store does not hold at that place, or for a run the client read to
its end, an event it never got), and prints the metrics read back from /metrics.

    .venv/bin/python bench/soak.py [--minutes 10] [--sessions 50] [--sample 15]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyhive import hive  # noqa: E402

from tests.durable.support import EngineProcess, StoreTarget, drop  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, text, tool  # noqa: E402

A = "kyuubi.engine.data.agent."
METRICS_AT = re.compile(r"Metrics listening on (http://[\d.]+:\d+/metrics)")
ACTIONS = (("ask", 35), ("sql", 15), ("approve", 20), ("cancel", 15), ("disconnect", 15))


# --- the scripted LLM, in its own process ------------------------------------------------------------
def respond(body: dict[str, Any]) -> Reply:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return text("Done: ", "the answer ", "is ready.")
    question = str(last.get("content") or "")
    if "slow" in question:
        return text(*(f"part {n} " for n in range(20)), delay=0.1)
    if "approve" in question:
        return tool("run_mutation_query", {"sql": "DELETE FROM scratch WHERE id < 0"})
    return tool("run_select_query", {"sql": "SELECT customer, amount FROM orders"})


def serve_llm() -> None:
    with FakeOpenAIServer(responder=respond, record=False) as llm:
        print(llm.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


# --- what the clients saw -------------------------------------------------------------------------
@dataclass
class Seen:
    """The event rows one client got of one run; ``complete``: it read the run to its end."""

    rows: list[dict[str, Any]]
    complete: bool


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, Seen] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def seen(self, rows: list[dict[str, Any]], complete: bool) -> None:
        if rows and rows[0].get("runId"):
            with self.lock:
                self.runs[str(rows[0]["runId"])] = Seen(rows, complete)

    def count(self, table: str, key: str) -> None:
        with self.lock:
            target = self.actions if table == "actions" else self.errors
            target[key] = target.get(key, 0) + 1


def read_rows(cursor: Any, limit: int | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while limit is None or len(found) < limit:
        row = cursor.fetchone()
        if row is None:
            break
        found.append(json.loads(row[0]))
    return found


class Client:
    """One session's worth of load, on its own thread."""

    def __init__(self, number: int, host: str, port: int, deadline: float, tally: Tally) -> None:
        self.number, self.host, self.port, self.deadline, self.tally = number, host, port, deadline, tally
        self.random = random.Random(number)
        self.connection = self._connect()

    def _connect(self) -> Any:
        return hive.connect(host=self.host, port=self.port, username=f"user{self.number % 10}")

    def run(self) -> None:
        names = [name for name, _ in ACTIONS]
        weights = [weight for _, weight in ACTIONS]
        while time.monotonic() < self.deadline:
            action = self.random.choices(names, weights)[0]
            self.tally.count("actions", action)
            try:
                getattr(self, action)()
            except Exception as exc:
                self.tally.count("errors", f"{action}: {type(exc).__name__}: {str(exc)[:80]}")
                self._reconnect()
        try:
            self.connection.close()
        except Exception:
            pass

    def _reconnect(self) -> None:
        try:
            self.connection.close()
        except Exception:
            pass
        self.connection = self._connect()

    def ask(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute(f"question {self.random.random()}", async_=True)
        self.tally.seen(read_rows(cursor), True)

    def sql(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute("SELECT customer, amount FROM orders")
        cursor.fetchall()

    def approve(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute("please approve this", async_=True)
        seen = read_rows(cursor, 3)
        if seen and seen[-1].get("type") == "approval_request":
            verb = "__approve" if self.random.random() < 0.7 else "__deny"
            decide = self.connection.cursor()
            decide.execute(f"{verb}:{seen[-1]['requestId']}")
            decide.fetchall()
        self.tally.seen(seen + read_rows(cursor), True)

    def cancel(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute("a slow question", async_=True)
        seen = read_rows(cursor, 3)
        cursor.cancel()
        self.tally.seen(seen, False)

    def disconnect(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute("another slow question", async_=True)
        seen = read_rows(cursor, 2)
        drop(self.connection)
        self.tally.seen(seen, False)
        self.connection = self._connect()


# --- the engine's process -------------------------------------------------------------------------
def sample(pid: int) -> tuple[float, int, int]:
    """(RSS in MiB, threads, open file descriptors) of process ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, threads, len(list(Path(f"/proc/{pid}/fd").iterdir()))


def lost_events(store: StoreTarget, runs: dict[str, Seen]) -> tuple[int, int, int]:
    """(runs compared, events compared, events lost)."""
    compared = lost = 0
    for run_id, seen in runs.items():
        stored = [payload for _, _, payload in store.events(run_id)]
        compared += len(seen.rows)
        lost += sum(1 for index, row in enumerate(seen.rows) if index >= len(stored) or stored[index] != row)
        if seen.complete:
            lost += max(0, len(stored) - len(seen.rows))
    return len(runs), compared, lost


def metric_lines(url: str) -> list[str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode("utf-8")
    return [line for line in body.splitlines() if line and not line.startswith("#") and "_bucket" not in line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between two samples")
    parser.add_argument("--serve-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llm:
        serve_llm()
        return
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    shop = tmp / "shop.sqlite"
    with sqlite3.connect(shop) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL)")
        connection.executemany(
            "INSERT INTO orders (customer, amount) VALUES (?, ?)", [("ada", 12.5), ("bob", 30.0)]
        )
        connection.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
    llm = subprocess.Popen(
        [sys.executable, __file__, "--serve-llm"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert llm.stdout is not None
    llm_url = llm.stdout.readline().strip()
    store_path = tmp / "work" / "store.db"
    engine = EngineProcess(
        {
            "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
            "kyuubi.frontend.thrift.binary.bind.port": "0",
            "kyuubi.metrics.enabled": "true",
            "kyuubi.metrics.prometheus.port": "0",
            A + "work.dir": str(tmp / "work"),
            A + "provider": "OPENAI_COMPATIBLE",
            A + "openai.endpoint": llm_url,
            A + "model": "fake-model",
            A + "jdbc.url": f"jdbc:sqlite:{shop}",
            A + "approval.mode": "NORMAL",
            A + "run.detached.timeout": "PT30S",
        },
        env={"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": "sk-soak-0123456789abcdefghij"},
    )
    try:
        engine.start()
        metrics_url = engine.wait_for(METRICS_AT).group(1)
        run(engine, metrics_url, StoreTarget("sqlite", f"sqlite:///{store_path}", path=store_path), args)
    finally:
        engine.stop()
        if llm.stdin is not None:
            llm.stdin.close()
        llm.wait(timeout=10)


def run(engine: EngineProcess, metrics_url: str, store: StoreTarget, args: argparse.Namespace) -> None:
    pid = engine.pid
    tally = Tally()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    clients = [Client(n, engine.host, engine.port, deadline, tally) for n in range(args.sessions)]
    threads = [threading.Thread(target=c.run, name=f"soak-client-{c.number}") for c in clients]
    samples = [(0.0, *sample(pid))]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(min(args.sample, max(2.0, deadline - time.monotonic() + 1)))
        samples.append((time.monotonic() - started, *sample(pid)))
    for thread in threads:
        thread.join()
    time.sleep(3.0)  # detached and cancelled runs end, the store's writer catches up
    samples.append((time.monotonic() - started, *sample(pid)))
    print(f"soak: {args.sessions} sessions for {args.minutes:g} min, engine pid {pid}")
    print("  time s   RSS MiB  threads  open fds")
    for at, rss, count, fds in samples:
        print(f"  {at:6.0f}  {rss:8.1f}  {count:7d}  {fds:8d}")
    loaded = samples[1:-1] or samples
    half = len(loaded) // 2
    for label, column in (("RSS MiB", 1), ("threads", 2), ("open fds", 3)):
        first = [row[column] for row in loaded[: max(1, half)]]
        last = [row[column] for row in loaded[half:]]
        print(
            f"  {label:<9} first half mean {sum(first) / len(first):8.1f}, second half mean "
            f"{sum(last) / len(last):8.1f}, after the load {samples[-1][column]:8.1f}"
        )
    print("  actions:", ", ".join(f"{name} {count}" for name, count in sorted(tally.actions.items())))
    print(f"  client errors: {sum(tally.errors.values())}")
    for what, count in sorted(tally.errors.items(), key=lambda item: -item[1])[:8]:
        print(f"    {count:5d}  {what}")
    runs, compared, lost = lost_events(store, tally.runs)
    print(f"  lost events: {lost} (of {compared} events clients received, over {runs} runs)")
    print("  metrics read back from /metrics:")
    for line in metric_lines(metrics_url):  # zeros too: the gauges must be back at 0
        print(f"    {line}")


if __name__ == "__main__":
    main()
