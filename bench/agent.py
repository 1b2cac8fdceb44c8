"""Agent runtime benchmark with a zero-latency fake LLM. Prints figures; asserts nothing.

1. Engine overhead per one-step statement: the latency of a question answered through PyHive
   (ExecuteStatement + fetch of every row) minus the latency of the same LLM call made directly
   with the openai client; also the provider alone (no Thrift). p50 and p99.
2. N concurrent sessions (default 200), each streaming one statement: p99 latency from
   ExecuteStatement to the first row, errors, and the peak RSS of this process (engine + clients).

    .venv/bin/python bench/agent.py [--statements 300] [--sessions 200]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyhive import hive

from engine.agent.approval import ApprovalBroker
from engine.agent.llm import LlmCallOptions, LlmClient
from engine.agent.provider import AgentSession, RunRequest
from engine.app import EngineApp
from engine.common.cancel import CancelToken
from engine.common.config import EngineConf
from tests.fakes.openai_server import FakeOpenAIServer, Reply

A = "kyuubi.engine.data.agent."


class _Address:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_engine(tmp: Path, llm: FakeOpenAIServer) -> EngineApp:
    db = tmp / "bench.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER)")
    values = {
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        A + "work.dir": str(tmp / "work"),
        A + "provider": "OPENAI_COMPATIBLE",
        A + "openai.endpoint": llm.url,
        A + "openai.api.key": "sk-bench-0123456789abcdefghij",
        A + "model": "fake-model",
        A + "jdbc.url": f"jdbc:sqlite:{db}",
    }
    conf = EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})
    app = EngineApp(conf)  # the datasource, catalog and tool registry come from jdbc.url
    app.start()
    return app


def run_statement(cursor: hive.Cursor, question: str) -> tuple[float, float]:
    """(time to the first row, time to the last row) of one question, in seconds."""
    started = time.perf_counter()
    cursor.execute(question, async_=True)
    first = None
    while cursor.fetchone() is not None:
        if first is None:
            first = time.perf_counter() - started
    return (first or 0.0), time.perf_counter() - started


def overhead(app: EngineApp, llm: FakeOpenAIServer, count: int) -> None:
    client = LlmClient(llm.url, "sk-bench-0123456789abcdefghij")
    options = LlmCallOptions(model="fake-model")
    direct = []
    for _ in range(count):
        started = time.perf_counter()
        list(client.stream([{"role": "user", "content": "q"}], [], options, CancelToken()))
        direct.append(time.perf_counter() - started)
    client.close()

    provider = app.provider
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-session-") as workdir:
        session = AgentSession("bench", "bench", Path(workdir), ApprovalBroker("bench", "bench"))
        provider.open_session(session)
        try:
            for _ in range(count):
                session.memory.clear()
                request = RunRequest("q", session, uuid.uuid4().hex, app.conf, CancelToken())
                started = time.perf_counter()
                list(provider.run(request))
                runs.append(time.perf_counter() - started)
        finally:
            session.approvals.close()
            provider.close_session(session)

    conn = hive.connect(host=app.host, port=app.port, username="bench")
    cursor = conn.cursor()
    whole = []
    for index in range(count):
        if index % 20 == 0:  # keep the session's memory short, as for a fresh question
            conn.close()
            conn = hive.connect(host=app.host, port=app.port, username="bench")
            cursor = conn.cursor()
        whole.append(run_statement(cursor, "q")[1])
    conn.close()
    base = statistics.median(direct)
    print(f"one-step statement, {count} runs (zero-latency fake LLM)")
    print(f"  direct openai stream call     p50 {base * 1e3:7.2f} ms  p99 {pct(direct, 99) * 1e3:7.2f} ms")
    print(
        f"  provider.run (no Thrift)      p50 {statistics.median(runs) * 1e3:7.2f} ms  p99 {pct(runs, 99) * 1e3:7.2f} ms"
        f"  -> agent overhead p50 {(statistics.median(runs) - base) * 1e3:6.2f} ms"
    )
    print(
        f"  PyHive execute + fetch all    p50 {statistics.median(whole) * 1e3:7.2f} ms  p99 {pct(whole, 99) * 1e3:7.2f} ms"
        f"  -> engine overhead p50 {(statistics.median(whole) - base) * 1e3:6.2f} ms"
        f"  p99 {(pct(whole, 99) - base) * 1e3:6.2f} ms"
    )


def serve(conn, tmp: Path) -> None:
    """Child process: the fake LLM and the engine; reports its own peak RSS when told to stop."""
    logging.basicConfig(level=logging.WARNING)
    tmp.mkdir(parents=True, exist_ok=True)
    with FakeOpenAIServer(responder=respond, record=False) as llm:
        app = start_engine(tmp, llm)
        conn.send((app.host, app.port))
        conn.recv()
        app.stop()
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def respond(body: dict) -> Reply:
    if body["messages"][-1].get("content") == "stream something":
        return Reply(text=("Streaming ", "an ", "answer ", "for ", "you."), delay=0.01)
    return Reply(text=("ok",))


def concurrent(tmp: Path, sessions: int) -> None:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=serve, args=(child, tmp / "child"), name="bench-engine"
    )
    process.start()
    if not parent.poll(60):
        raise SystemExit("the engine process did not start")
    host, port = parent.recv()
    app = _Address(host, port)
    firsts: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(sessions + 1)

    def worker() -> None:
        try:
            conn = hive.connect(host=app.host, port=app.port, username="bench")
        except Exception as exc:
            with lock:
                errors.append(f"connect: {exc}")
            ready.wait(60)
            return
        try:
            ready.wait(60)
            first, _total = run_statement(conn.cursor(), "stream something")
            with lock:
                firsts.append(first)
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, name=f"bench-session-{i}") for i in range(sessions)]
    for thread in threads:
        thread.start()
    ready.wait(120)
    started = time.perf_counter()
    for thread in threads:
        thread.join(120)
    elapsed = time.perf_counter() - started
    parent.send("stop")
    rss = parent.recv() if parent.poll(60) else float("nan")
    process.join(30)
    print(f"{sessions} concurrent sessions, each streaming one statement (5 deltas)")
    if firsts:
        print(
            f"  first row  p50 {statistics.median(firsts) * 1e3:7.1f} ms  p99 {pct(firsts, 99) * 1e3:7.1f} ms"
            f"  max {max(firsts) * 1e3:7.1f} ms"
        )
    print(f"  completed {len(firsts)}/{sessions}, errors {len(errors)}, wall {elapsed:.2f} s")
    for message in errors[:5]:
        print(f"    error: {message}")
    print(f"  peak RSS of the engine process (engine + fake LLM, clients apart): {rss:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-agent-") as name:
        tmp = Path(name)
        with FakeOpenAIServer(responder=respond, record=False) as llm:
            app = start_engine(tmp, llm)
            try:
                overhead(app, llm, args.statements)
            finally:
                app.stop()
        concurrent(tmp, args.sessions)


if __name__ == "__main__":
    main()
