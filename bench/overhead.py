"""Per-statement overhead (issue 17 §3): a one-step statement answered by a zero-latency scripted
LLM, read through PyHive, against the same LLM call made directly with the openai client. Prints
p50/p99 of each and the difference; asserts nothing.

The engine (``python -m engine``, SQLite datasource) and the scripted LLM each run in their own
process; the client is this process. Each round makes one direct call (``openai`` streaming chat
completion, one user message, the stream read to its end) and one statement (PyHive
``execute(async_=True)`` then ``fetchall()``, i.e. ExecuteStatement, FetchResults until empty, the
engine's whole ReAct step with its prompt, tool specs and events), alternately, so the machine's
load drifts over both alike. The session is reopened every ``--per-session`` statements, so the
conversation memory (and the prompt) stays short as for a fresh question.

``--profile FILE`` samples the engine with py-spy during the statements and writes its collapsed
stacks to FILE, then prints the functions with the most samples.

    .venv/bin/python bench/overhead.py [--runs 300] [--per-session 20] [--profile /tmp/engine.txt]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import API_KEY, EngineProcess, LlmProcess, Profiler, percentiles  # noqa: E402


def serve_llm() -> None:
    """Child mode: every request is answered at once with one short text delta."""
    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    with FakeOpenAIServer(responder=lambda body: Reply(text=("ok",), usage=(10, 1)), record=False) as llm:
        print(llm.url, flush=True)
        sys.stdin.read()


def direct_call(client: object) -> float:
    started = time.perf_counter()
    stream = client.chat.completions.create(  # type: ignore[attr-defined]
        model="bench-model",
        messages=[{"role": "user", "content": "q"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass
    return time.perf_counter() - started


def statement(cursor: object) -> float:
    started = time.perf_counter()
    cursor.execute("q", async_=True)  # type: ignore[attr-defined]
    rows = cursor.fetchall()  # type: ignore[attr-defined]
    took = time.perf_counter() - started
    if not rows or '"agent_finish"' not in rows[-1][0]:
        raise SystemExit(f"the statement did not finish: {rows[-1:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--per-session", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", help="write the engine's py-spy collapsed stacks here")
    parser.add_argument("--conf", action="append", default=[], help="k=v for the engine (repeatable)")
    parser.add_argument("--serve-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llm:
        serve_llm()
        return

    import openai
    from pyhive import hive

    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as name:
        tmp = Path(name)
        db = tmp / "bench.db"
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE t (a INTEGER)")
        llm = LlmProcess(__file__)
        engine = EngineProcess(
            tmp / "work",
            llm.url,
            dict(item.split("=", 1) for item in args.conf),
            {"KYUUBI_ENGINE_DATA_AGENT_JDBC_URL": f"jdbc:sqlite:{db}"},
        )
        client = openai.OpenAI(base_url=llm.url, api_key=API_KEY, max_retries=0)
        direct: list[float] = []
        through: list[float] = []
        direct_cpu = engine_cpu = 0.0
        profiler = None
        try:
            conn = hive.connect(host="127.0.0.1", port=engine.port, username="bench")
            cursor = conn.cursor()
            for index in range(args.warmup + args.runs):
                if index and index % args.per_session == 0:
                    conn.close()
                    conn = hive.connect(host="127.0.0.1", port=engine.port, username="bench")
                    cursor = conn.cursor()
                if index == args.warmup and args.profile:
                    profiler = Profiler(engine.proc.pid, Path(args.profile))
                cpu = time.process_time()
                a = direct_call(client)
                cpu = time.process_time() - cpu
                before = engine.cpu_seconds()
                b = statement(cursor)
                if index >= args.warmup:
                    direct_cpu += cpu
                    engine_cpu += engine.cpu_seconds() - before
                    direct.append(a)
                    through.append(b)
            conn.close()
        finally:
            if profiler is not None:
                profiler.stop()
            client.close()
            engine.stop()
            llm.finish()
    d50, d99 = percentiles([x * 1000 for x in direct])
    s50, s99 = percentiles([x * 1000 for x in through])
    paired = statistics.median((b - a) * 1000 for a, b in zip(direct, through, strict=True))
    print(f"one-step statement, {len(through)} rounds (zero-latency scripted LLM in its own process)")
    if args.conf:
        print(f"  engine configuration: {' '.join(args.conf)}")
    print(f"  {'direct openai stream call (client process)':<46} p50 {d50:7.2f} ms  p99 {d99:7.2f} ms")
    print(f"  {'PyHive execute(async) + fetchall via engine':<46} p50 {s50:7.2f} ms  p99 {s99:7.2f} ms")
    print(
        f"  engine-added: p50 {s50 - d50:6.2f} ms (target <= 5 ms), p99 {s99 - d99:6.2f} ms, "
        f"median of paired differences {paired:6.2f} ms"
    )
    runs = max(len(through), 1)
    print(
        f"  CPU per round: direct call {direct_cpu / runs * 1000:.2f} ms (client process), engine "
        f"{engine_cpu / runs * 1000:.2f} ms per statement (its own LLM call included; /proc, 10 ms ticks)"
    )
    if profiler is not None:
        profiler.summarize()


if __name__ == "__main__":
    main()
