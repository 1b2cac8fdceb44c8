"""Cost of the per-user limit checks per statement (target <= 0.1 ms). Prints figures; asserts
nothing.

Times, in this process, exactly what a statement pays for the limits: the statement-rate check
(``UserLimits.admit_statement``) that every non-control statement passes, and for an agent run the
run-limit and tokens-per-day checks (``begin_run``), its end (``end_run``) and the tokens it
spent (``spend``, with a file ledger). Each with the limits off, on for one user, on for 10,000
users, and on from 4 threads at once (one lock for all).

    .venv/bin/python bench/limits.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.metrics import PrometheusMetrics
from engine.operation.limits import FileTokenLedger, LimitSettings, UserLimits

HUGE = 10**12  # limits that never refuse: every call takes the whole check path


def per_call(work: Callable[[int], None], calls: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean seconds per call."""
    means = []
    for _ in range(repeats):
        started = time.perf_counter()
        work(calls)
        means.append((time.perf_counter() - started) / calls)
    return statistics.median(means)


def threaded(work: Callable[[int], None], calls: int, threads: int) -> float:
    """Seconds per call with ``threads`` threads calling at once (wall time / total calls)."""
    each = calls // threads
    workers = [threading.Thread(target=work, args=(each,), name=f"bench-limits-{n}") for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) / (each * threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    calls = args.calls
    metrics = PrometheusMetrics()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        ledger = FileTokenLedger(Path(tmp) / "token-usage.json")
        off = UserLimits(LimitSettings(), ledger=ledger, metrics=metrics)
        on = UserLimits(
            LimitSettings(per_minute=HUGE, burst=HUGE, max_runs=HUGE, tokens_per_day=HUGE),
            administrators=("root",),
            ledger=ledger,
            metrics=metrics,
        )
        users = [f"user-{n}" for n in range(10_000)]
        for user in users:  # each user's day count is read once, then kept
            on.tokens_today(user)

        def statements(limits: UserLimits, many: bool) -> Callable[[int], None]:
            def work(count: int) -> None:
                admit = limits.admit_statement
                for n in range(count):
                    admit(users[n % 10_000] if many else "alice")

            return work

        def runs(limits: UserLimits) -> Callable[[int], None]:
            def work(count: int) -> None:
                for n in range(count):
                    user = users[n % 10_000]
                    limits.begin_run(user)
                    limits.end_run(user)

            return work

        print(f"per-user limit checks, {calls} calls each (median of 5; target <= 100 us a statement)")
        rows = [
            ("statement rate check, limits off", per_call(statements(off, False), calls)),
            ("statement rate check, 1 user", per_call(statements(on, False), calls)),
            ("statement rate check, 10,000 users", per_call(statements(on, True), calls)),
            ("statement rate check, 4 threads at once", threaded(statements(on, True), calls, 4)),
            ("run begin + end (runs, tokens/day), limits off", per_call(runs(off), calls)),
            ("run begin + end (runs, tokens/day), 10,000 users", per_call(runs(on), calls)),
            ("run begin + end, 4 threads at once", threaded(runs(on), calls, 4)),
        ]
        spend_calls = max(1, calls // 100)  # writes the ledger file each time
        rows.append(
            (
                "tokens spent at a run's end (file ledger write)",
                per_call(lambda count: [on.spend("alice", 100, 20) for _ in range(count)], spend_calls, 3),
            )
        )
        for label, seconds in rows:
            print(f"  {label:<52} {seconds * 1e6:8.2f} us")
        rate = max(seconds for _, seconds in rows[:4])
        run = max(seconds for _, seconds in rows[4:7])
        print(f"  worst a question pays in checks (rate + run begin/end): {(rate + run) * 1e6:.2f} us")


if __name__ == "__main__":
    main()
