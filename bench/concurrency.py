"""Concurrent streaming sessions (issue 17 §2, §5): how first-row and per-token latency grow with
the number of live sessions. Prints figures and plots them; asserts nothing.

The engine (``python -m engine``), the scripted LLM and the clients each run in their own
processes: ``--clients`` client processes share the N sessions, one thread per session, each
reading through PyHive (``execute(async_=True)`` then a ``fetchone`` loop, as DB-API clients do).
Every LLM answer streams ``--tokens`` tokens ``--gap`` apart (200 x 50 ms = 10 s); each token
carries a marker, and the LLM process stamps the CLOCK_MONOTONIC time it wrote it; the client
stamps the time the row holding it arrived. So, per N:

- errors: a failed connect/execute/fetch, a statement that did not finish, or a token never seen;
- token -> row: the delay the engine adds between a token leaving the LLM and its row reaching
  the client (the engine coalesces short deltas up to 50 ms, by design), p50/p99;
- first row: statements start at ``--rate`` per second (session i at i/rate s, its next
  statement as soon as the last one ended), each timed from ExecuteStatement to its first row;
- the engine's peak RSS and thread count, beside the configured bounds of its threads.

All sessions are connected before the first statement starts. The engine gets
``kyuubi.backend.engine.exec.pool.size`` >= N (an agent run holds a pool thread for its 10 s,
so a smaller pool would queue runs, not fail them); the other keys keep their defaults.

    .venv/bin/python bench/concurrency.py [--sessions 50,100,200,500] [--tokens 200] [--gap 0.05]
        [--rate 50] [--rounds 2] [--clients 4] [--plot bench/results/latency_vs_sessions.png]
        [--profile FILE: py-spy the engine, with one --sessions value]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import (  # noqa: E402
    AGENT,
    MARK,
    EngineProcess,
    LlmProcess,
    Profiler,
    child_env,
    cpu_seconds,
    percentiles,
    serve_marked_llm,
)

EXEC_POOL = "kyuubi.backend.engine.exec.pool.size"
WORKERS = "kyuubi.frontend.thrift.max.worker.threads"
WORKERS_DEFAULT = 999
EXEC_POOL_DEFAULT = 256


# --- the scripted LLM, in its own process --------------------------------------------------------
def serve_llm(tokens: int, gap: float) -> None:
    """Child mode: every request streams ``tokens`` marked tokens ``gap`` apart."""
    serve_marked_llm(tokens, gap, " ", (10, tokens))


# --- a client process: many sessions, one thread each --------------------------------------------
@dataclass
class ClientResult:
    first_rows: list[float] = field(default_factory=list)  # seconds, ExecuteStatement -> first row
    starts: list[float] = field(default_factory=list)  # monotonic time of each first ExecuteStatement
    arrivals: dict[int, float] = field(default_factory=dict)  # marker -> monotonic arrival
    errors: list[str] = field(default_factory=list)
    statements: int = 0
    cpu: float = 0.0  # CPU seconds of the client process


def run_client() -> None:
    """Child mode: reads a job line {port, sessions, rate, rounds, deadline}, connects every session,
    prints "ready", reads the start time t0, runs, prints the result as JSON."""
    from pyhive import hive

    job = json.loads(sys.stdin.readline())
    result = ClientResult()
    lock = threading.Lock()
    connections: dict[int, object] = {}

    def connect(index: int) -> None:
        try:
            connection = hive.connect(host="127.0.0.1", port=job["port"], username=f"bench{index}")
        except Exception as exc:
            with lock:
                result.errors.append(f"connect: {type(exc).__name__}: {exc}"[:200])
            return
        with lock:
            connections[index] = connection

    openers = [
        threading.Thread(target=connect, args=(i,), name=f"bench-connect-{i}") for i in job["sessions"]
    ]
    for thread in openers:
        thread.start()
    for thread in openers:
        thread.join(120)
    print("ready", flush=True)
    t0 = float(sys.stdin.readline())

    def session(index: int) -> None:
        connection = connections[index]
        cursor = connection.cursor()  # type: ignore[attr-defined]
        start_at = t0 + index / job["rate"]
        try:
            for round_ in range(job["rounds"]):
                if time.monotonic() > job["deadline"]:
                    break
                time.sleep(max(0.0, start_at - time.monotonic()))
                arrivals: dict[int, float] = {}
                first = None
                started = time.monotonic()
                cursor.execute("stream please", async_=True)
                while (row := cursor.fetchone()) is not None:
                    now = time.monotonic()
                    if first is None:
                        first = now - started
                    for mark in MARK.findall(row[0]):
                        arrivals[int(mark)] = now
                state = cursor.poll().operationState
                with lock:
                    result.statements += 1
                    if round_ == 0:
                        result.starts.append(started)
                    if first is not None:
                        result.first_rows.append(first)
                    result.arrivals.update(arrivals)
                    if state != hive.ttypes.TOperationState.FINISHED_STATE:
                        result.errors.append(f"statement ended in state {state}")
                    elif len(arrivals) != job["tokens"]:
                        result.errors.append(f"{job['tokens'] - len(arrivals)} tokens never arrived")
                start_at = time.monotonic()
        except Exception as exc:
            with lock:
                result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            try:
                connection.close()  # type: ignore[attr-defined]
            except Exception as exc:
                with lock:
                    result.errors.append(f"close: {type(exc).__name__}: {exc}"[:200])

    runners = [threading.Thread(target=session, args=(i,), name=f"bench-session-{i}") for i in connections]
    for thread in runners:
        thread.start()
    for thread in runners:
        thread.join(max(1.0, job["deadline"] + 60 - time.monotonic()))
    hung = sum(thread.is_alive() for thread in runners)
    with lock:
        if hung:
            result.errors.append(f"{hung} sessions still running at the deadline")
        result.cpu = time.process_time()
        print(json.dumps(result.__dict__), flush=True)


class ClientProcess:
    def __init__(self, job: dict[str, object]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env({}),
            cwd=ROOT,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("a client process failed to start")

    def go(self, t0: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{t0}\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> ClientResult:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return ClientResult(errors=["the client process hung and was killed"])
        lines = out.strip().splitlines()
        if not lines:
            return ClientResult(errors=[f"the client process exited {self.proc.returncode} with no result"])
        data = json.loads(lines[-1])
        data["arrivals"] = {int(k): v for k, v in data["arrivals"].items()}
        return ClientResult(**data)


# --- one point of the sweep ----------------------------------------------------------------------
@dataclass
class Point:
    sessions: int
    statements: int
    errors: int
    arrival_rate: float
    first_p50: float
    first_p99: float
    token_p50: float
    token_p99: float
    tokens: int
    rss: float
    threads: int
    pool: int
    engine_cpu: float  # CPU seconds, from the first statement to the end of the point
    llm_cpu: float
    clients_cpu: float
    wall: float
    messages: list[str]


def measure(sessions: int, args: argparse.Namespace, tmp: Path) -> Point:
    pool = max(EXEC_POOL_DEFAULT, sessions + 16)
    llm = LlmProcess(__file__, "--tokens", str(args.tokens), "--gap", str(args.gap))
    engine = EngineProcess(
        tmp / f"work{sessions}", llm.url, {EXEC_POOL: str(pool), AGENT + "approval.mode": "AUTO_APPROVE"}
    )
    peak = [0.0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            try:
                rss, threads = engine.status()
            except OSError:
                return
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], threads)

    sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
    sampler.start()
    indices = list(range(sessions))
    answer = args.tokens * args.gap
    deadline = time.monotonic() + 30 + sessions / args.rate + args.rounds * (answer + 30)
    clients = []
    try:
        for part in range(args.clients):
            share = indices[part :: args.clients]
            if share:
                job = {
                    "port": engine.port,
                    "sessions": share,
                    "rate": args.rate,
                    "rounds": args.rounds,
                    "tokens": args.tokens,
                    "deadline": deadline,
                }
                clients.append(ClientProcess(job))
        for client in clients:
            client.wait_ready()
        connected_threads = engine.status()[1]
        profiler = Profiler(engine.proc.pid, Path(args.profile)) if args.profile else None
        engine_cpu, llm_cpu = engine.cpu_seconds(), cpu_seconds(llm.proc.pid)
        t0 = time.monotonic() + 0.5
        for client in clients:
            client.go(t0)
        results = [client.result(max(10.0, deadline + 120 - time.monotonic())) for client in clients]
        wall = time.monotonic() - t0
        engine_cpu, llm_cpu = engine.cpu_seconds() - engine_cpu, cpu_seconds(llm.proc.pid) - llm_cpu
        if profiler is not None:
            profiler.stop()
            profiler.summarize()
    finally:
        stop.set()
        sampler.join(5)
        engine.stop()
        sent = {int(k): v for k, v in (llm.finish() or {}).items()}  # type: ignore[union-attr]
    firsts = [s * 1000 for r in results for s in r.first_rows]
    first_round = sorted(s for r in results for s in r.starts)
    rate = (len(first_round) - 1) / (first_round[-1] - first_round[0]) if len(first_round) > 1 else 0.0
    delays = [(at - sent[mark]) * 1000 for r in results for mark, at in r.arrivals.items() if mark in sent]
    errors = [e for r in results for e in r.errors]
    p50f, p99f = percentiles(firsts)
    p50t, p99t = percentiles(delays)
    print(
        f"  (engine threads with all {sessions} sessions connected, before any statement: {connected_threads})"
    )
    return Point(
        sessions,
        sum(r.statements for r in results),
        len(errors),
        rate,
        p50f,
        p99f,
        p50t,
        p99t,
        len(delays),
        peak[0],
        peak[1],
        pool,
        engine_cpu,
        llm_cpu,
        sum(r.cpu for r in results),
        wall,
        sorted(set(errors))[:5] + engine.errors[:5],
    )


def plot(points: list[Point], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no PNG", file=sys.stderr)
        return

    xs = [p.sessions for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(xs, [p.first_p50 for p in points], "o-", color="tab:blue", label="first row p50")
    ax.plot(xs, [p.first_p99 for p in points], "o--", color="tab:blue", label="first row p99")
    ax.plot(xs, [p.token_p50 for p in points], "s-", color="tab:orange", label="token -> row p50")
    ax.plot(xs, [p.token_p99 for p in points], "s--", color="tab:orange", label="token -> row p99")
    ax.axhline(250, color="tab:blue", linewidth=0.8, alpha=0.5)
    ax.axhline(100, color="tab:orange", linewidth=0.8, alpha=0.5)
    ax.text(xs[0], 270, "first-row target 250 ms", color="tab:blue", fontsize=8)
    ax.text(xs[0], 80, "token target 100 ms", color="tab:orange", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("concurrent streaming sessions (PyHive, one token / 50 ms each)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Engine latency vs concurrent sessions (2 shared cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plotted {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", default="50,100,200,500")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=50.0, help="statements started per second")
    parser.add_argument("--rounds", type=int, default=2, help="statements per session")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--plot", default=str(ROOT / "bench" / "results" / "latency_vs_sessions.png"))
    parser.add_argument("--profile", help="py-spy the engine during the statements (one point only)")
    parser.add_argument("--serve-llm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llm:
        serve_llm(args.tokens, args.gap)
        return
    if args.client:
        run_client()
        return

    sweep = [int(n) for n in args.sessions.split(",")]
    print(
        f"{args.clients} client processes, PyHive async fetches; each answer {args.tokens} tokens "
        f"{args.gap * 1000:g} ms apart; statements start at {args.rate:g}/s; {args.rounds} per session"
    )
    print(
        f"thread bounds: {WORKERS}={WORKERS_DEFAULT} (a thread per connection), {EXEC_POOL} per point "
        "(a thread per running statement, plus one LLM stream reader each), a few fixed threads"
    )
    points = []
    with tempfile.TemporaryDirectory(prefix="bench-conc-") as tmp:
        for sessions in sweep:
            print(f"-- {sessions} sessions", flush=True)
            point = measure(sessions, args, Path(tmp))
            points.append(point)
            for message in point.messages:
                print(f"  error: {message}")
    print()
    header = (
        f"{'sessions':>8}{'stmts':>7}{'errors':>7}{'start/s':>8}{'1st p50':>9}{'1st p99':>9}"
        f"{'tok p50':>9}{'tok p99':>9}{'tokens':>8}{'RSS MiB':>9}{'threads':>8}{'bound':>7}"
    )
    print(header)
    for p in points:
        bound = WORKERS_DEFAULT + 2 * p.pool
        print(
            f"{p.sessions:>8}{p.statements:>7}{p.errors:>7}{p.arrival_rate:>8.1f}{p.first_p50:>9.1f}"
            f"{p.first_p99:>9.1f}{p.token_p50:>9.1f}{p.token_p99:>9.1f}{p.tokens:>8}{p.rss:>9.0f}"
            f"{p.threads:>8}{bound:>7}"
        )
    print("(latencies in ms; bound = max.worker.threads + 2 x exec.pool.size, excluding a few fixed threads)")
    print()
    print(
        f"{'sessions':>8}{'wall s':>8}{'tokens/s':>10}{'engine cores':>14}{'us/token':>10}{'LLM cores':>11}{'client cores':>14}"
    )
    for p in points:
        print(
            f"{p.sessions:>8}{p.wall:>8.1f}{p.tokens / p.wall:>10.0f}{p.engine_cpu / p.wall:>14.2f}"
            f"{p.engine_cpu / max(p.tokens, 1) * 1e6:>10.0f}{p.llm_cpu / p.wall:>11.2f}{p.clients_cpu / p.wall:>14.2f}"
        )
    print("(CPU from /proc over the statements' span; cores = CPU seconds / wall seconds; the machine has 2)")
    if args.plot:
        plot(points, Path(args.plot))


if __name__ == "__main__":
    main()
