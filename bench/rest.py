"""The REST API's figures, against the same runs read over Thrift. Prints them; asserts nothing.

1. Append-to-client latency: the scripted LLM streams paragraphs of >= 2048 characters (the
   engine's delta coalescer appends each as a row at once), ``--gap`` apart, each with a marker;
   the time each marker reaches the client is compared with the time its chunk left the LLM
   (CLOCK_MONOTONIC is shared by the processes of one host). Over REST the client reads the chat's
   SSE stream (httpx); over Thrift it fetches the same kind of run with PyHive. p50/p99 per path.
2. Fan-out: ``--clients`` SSE clients, each chatting in its own session, so that as many runs are
   live at once; the LLM streams each slowly. Errors (a non-200, a broken stream, no ``done``)
   and the engine's resident memory before and while they are all open.

The engine runs in its own process, the fake LLM in another, the clients in this one.

    .venv/bin/python bench/rest.py [--runs 10] [--chunks 8] [--gap 0.1] [--clients 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pyhive import hive  # noqa: E402

from bench.procs import AGENT, MARK, EngineProcess, LlmProcess, percentiles, serve_marked_llm  # noqa: E402

PAD = "x" * 2100  # past the coalescer's size limit: every chunk is a row at once


# --- the fake LLM, in its own process ------------------------------------------------------------
def serve_llm(chunks: int, gap: float) -> None:
    """Child mode: every request gets ``chunks`` marked paragraphs ``gap`` apart."""
    serve_marked_llm(chunks, gap, PAD + "\n", (10, 10))


def llm_process(chunks: int, gap: float) -> LlmProcess:
    return LlmProcess(__file__, "--chunks", str(chunks), "--gap", str(gap))


def sent_times(llm: LlmProcess) -> dict[int, float]:
    """When the LLM sent each marker (its output once its stdin closes)."""
    sent = llm.finish()
    return {int(mark): at for mark, at in sent.items()} if isinstance(sent, dict) else {}


def engine_process(work: Path, llm_url: str) -> EngineProcess:
    return EngineProcess(
        work,
        llm_url,
        {
            "kyuubi.frontend.rest.bind.port": "0",
            "kyuubi.frontend.rest.max.worker.threads": "64",
            AGENT + "approval.mode": "AUTO_APPROVE",
        },
    )


# --- 1. latency ----------------------------------------------------------------------------------
def rest_arrivals(url: str, runs: int) -> dict[int, float]:
    arrivals: dict[int, float] = {}
    with httpx.Client(base_url=url, auth=("bench", "x"), timeout=60) as client:
        session = client.post("/api/v1/sessions", json={"configs": {}}).json()["identifier"]
        for _ in range(runs):
            with client.stream(
                "POST", f"/api/v1/data-agent/{session}/chat", json={"text": "stream"}
            ) as answer:
                for line in answer.iter_lines():
                    now = time.monotonic()
                    if line.startswith("data: ") and '"content_delta"' in line:
                        for mark in MARK.findall(json.loads(line[6:])["text"]):
                            arrivals[int(mark)] = now
                    if line == "event: done":
                        break
    return arrivals


def thrift_arrivals(port: int, runs: int) -> dict[int, float]:
    arrivals: dict[int, float] = {}
    with hive.connect(host="127.0.0.1", port=port, username="bench") as connection:
        cursor = connection.cursor()
        for _ in range(runs):
            cursor.execute("stream", async_=True)
            while (row := cursor.fetchone()) is not None:
                now = time.monotonic()
                event = json.loads(row[0])
                if event["type"] == "content_delta":
                    for mark in MARK.findall(event["text"]):
                        arrivals[int(mark)] = now
    return arrivals


# --- 2. fan-out ----------------------------------------------------------------------------------
async def fan_out(url: str, clients: int, engine: EngineProcess) -> tuple[int, int, float, float]:
    errors = 0
    opened = 0
    all_open = asyncio.Event()
    peak = 0.0
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=url, auth=("bench", "x"), timeout=120, limits=limits) as client:

        async def one() -> bool:
            nonlocal opened
            answer = await client.post("/api/v1/sessions", json={"configs": {}})
            if answer.status_code != 200:
                raise RuntimeError(f"open session: {answer.status_code} {answer.text[:100]}")
            session = answer.json()["identifier"]
            async with client.stream(
                "POST", f"/api/v1/data-agent/{session}/chat", json={"text": "slow"}
            ) as stream:
                if stream.status_code != 200:
                    raise RuntimeError(f"chat: {stream.status_code} {(await stream.aread())[:100]!r}")
                started = False
                async for line in stream.aiter_lines():
                    if not started and line.startswith("event: agent_start"):
                        started = True
                        opened += 1
                        if opened == clients:
                            all_open.set()
                    if line == "event: done":
                        return started
            raise RuntimeError(f"the stream ended without done (started: {started})")

        async def sample() -> None:
            nonlocal peak
            await asyncio.wait_for(all_open.wait(), 120)
            for _ in range(5):
                peak = max(peak, engine.rss_mib())
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        results = await asyncio.gather(*(one() for _ in range(clients)), return_exceptions=True)
        all_open.set()  # if some never opened, sample now rather than wait
        failed = [result for result in results if result is not True]
        errors = len(failed)
        for reason in {repr(result)[:160] for result in failed}:
            print(f"error: {reason}", file=sys.stderr)
        try:
            await sampler
        except TimeoutError:
            pass
    return errors, opened, peak, engine.rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--gap", type=float, default=0.1)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--serve-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llm:
        serve_llm(args.chunks, args.gap)
        return

    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        llm = llm_process(args.chunks, args.gap)
        engine = engine_process(Path(tmp) / "work", llm.url)
        try:
            rest = rest_arrivals(engine.rest_url, args.runs)
            thrift = thrift_arrivals(engine.port, args.runs)
        finally:
            sent = sent_times(llm)
        print(f"append-to-client latency ({args.runs} runs x {args.chunks} paragraphs, {args.gap:g} s apart)")
        print(f"{'path':<28}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}")
        for name, arrivals in (("REST SSE (httpx)", rest), ("Thrift FetchResults (PyHive)", thrift)):
            delays = [(at - sent[mark]) * 1000 for mark, at in arrivals.items() if mark in sent]
            p50, p99 = percentiles(delays)
            print(f"{name:<28}{len(delays):>6}{p50:>10.1f}{p99:>10.1f}")
        engine.stop()

        llm = llm_process(20, 0.5)  # each run streams ~10 s: all are live together
        engine = engine_process(Path(tmp) / "work2", llm.url)
        try:
            idle = engine.rss_mib()
            started = time.monotonic()
            errors, opened, peak, after = asyncio.run(fan_out(engine.rest_url, args.clients, engine))
            took = time.monotonic() - started
        finally:
            engine.stop()
            llm.finish()
        print()
        print(f"{args.clients} SSE clients on {args.clients} live runs")
        print(f"{'streams opened':<34}{opened:>10}")
        print(f"{'errors':<34}{errors:>10}")
        print(f"{'engine RSS idle (MiB)':<34}{idle:>10.1f}")
        print(f"{'engine RSS, all open (MiB)':<34}{peak:>10.1f}")
        print(f"{'engine RSS after (MiB)':<34}{after:>10.1f}")
        print(f"{'wall time (s)':<34}{took:>10.1f}")


if __name__ == "__main__":
    main()
