#!/usr/bin/env python3
"""Hostile clients (issue 11): for each attack, a normal PyHive client's SELECT 1 latency (p50,
p99) while the attack runs, against a quiet baseline measured in the same run, and what the
engine did with the attack (refused / answered / closed / hung).

The engine runs as its own process (``bin/data-agent-engine``): one in CUSTOM (SASL PLAIN with a
password file) mode, one in NOSASL mode, and one for the idle-connection attack, whose clients
connect from 127.0.0.2 while the probe connects from 127.0.0.1 (a fresh connection per query).
Login timeout PT2S and idle timeout PT3S, so that the slow-drip rows end quickly.

usage: bench/hostile.py [--duration 2.0] [--only TEXT] [--exclude TEXT] [--skip-statements] [--once]
                        [--workers 999] [--hold 15]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hostile import (  # noqa: E402
    ALL_ATTACKS,
    REFUSED,
    STATEMENT_ATTACKS,
    Attack,
    Probe,
    Target,
    engine_process,
    idle_logged_in,
    password_file,
    quiet_baseline,
    slow_drip_handshake,
    under_attack,
    wait_healthy,
)

USERS = {"probe": "probe-pw", "mallory": "mallory-pw"}


def row(name: str, mode: str, p50: float, p99: float, outcome: str) -> str:
    return f"| {name:<38} | {mode:<6} | {p50 * 1000:8.1f} | {p99 * 1000:8.1f} | {outcome:<24} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds each repeated attack runs")
    parser.add_argument("--only", default="", help="run only attacks whose name contains this")
    parser.add_argument("--skip-statements", action="store_true", help="skip the statement attacks")
    parser.add_argument(
        "--workers", type=int, default=999, help="max.worker.threads of the slot-attack engine"
    )
    parser.add_argument("--once", action="store_true", help="run each attack once (for engines it freezes)")
    parser.add_argument("--exclude", default="", help="skip attacks whose name contains this")
    parser.add_argument("--hold", type=float, default=15.0, help="seconds the idle connections are held")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    common = {  # short, so that the slow-drip rows end quickly
        "kyuubi.frontend.thrift.login.timeout": "PT2S",
        "kyuubi.frontend.thrift.connection.idle.timeout": "PT3S",
    }
    custom = {
        **common,
        "kyuubi.authentication": "CUSTOM",
        "kyuubi.authentication.password.file": str(password_file(work / "passwords", USERS)),
    }
    print("| attack | mode | p50 ms | p99 ms | engine did |")
    print("|---|---|---|---|---|")
    for mode, conf in (("SASL", custom), ("NOSASL", {**common, "kyuubi.authentication": "NOSASL"})):
        with engine_process(conf, work / mode) as engine:
            target = Target(engine.host, engine.port, mode)
            attacker = Target(engine.host, engine.port, mode, user="mallory", password="mallory-pw")
            quiet = quiet_baseline(target, args.duration)
            engine.drain()
            print(row("(quiet baseline)", mode, quiet.p50, quiet.p99, "-"))
            attacks: list[Attack] = [
                a
                for a in ALL_ATTACKS
                if mode in a.modes and args.only in a.name and not (args.exclude and args.exclude in a.name)
            ]
            if args.skip_statements:
                attacks = [a for a in attacks if a not in STATEMENT_ATTACKS]
            for attack in attacks:
                if args.once:
                    attack = dataclasses.replace(attack, repeat=False)
                started = time.monotonic()
                result, outcomes = under_attack(attack, attacker, target, args.duration)
                summary = ", ".join(f"{o} x{outcomes.count(o)}" for o in sorted(set(outcomes)))
                if result.errors:
                    summary += f"; probe errors {len(result.errors)}"
                took = time.monotonic() - started
                recovered = wait_healthy(target, 600.0)
                if recovered > 1.0:
                    summary += f"; engine answered again {recovered:.0f} s later"
                tracebacks = sum("Traceback" in line for line in engine.drain())
                if tracebacks:
                    summary += f"; {tracebacks} tracebacks logged"
                print(
                    row(
                        attack.name,
                        mode,
                        result.p50,
                        result.p99,
                        summary,
                    )
                    + ("" if took < args.duration * 3 else f" took {took:.0f} s"),
                    flush=True,
                )
            if args.only in "slow-drip handshake" and not (
                args.exclude and args.exclude in "slow-drip handshake"
            ):
                with Probe(target) as probe:
                    outcome = slow_drip_handshake(attacker)
                print(row("slow-drip handshake", mode, probe.result.p50, probe.result.p99, outcome))
    # idle logged-in connections from one address (127.0.0.2) against the default per-address limit
    if args.only in "idle logged-in connections" and not (args.exclude and args.exclude in "idle logged-in"):
        conf = {**common, "kyuubi.frontend.thrift.max.worker.threads": str(args.workers)}
        with engine_process(conf, work / "slots") as engine:
            target = Target(engine.host, engine.port, "SASL", user="probe", password="x")
            attacker = Target(
                engine.host, engine.port, "SASL", user="mallory", password="x", source="127.0.0.2"
            )
            with Probe(target, fresh=True, pause=0.05) as probe:
                outcome = idle_logged_in(attacker, args.workers, hold=args.hold)
            summary = outcome + (" (some over the per-address limit)" if outcome == REFUSED else "")
            if probe.result.errors:
                summary += f"; probe errors {len(probe.result.errors)}: {probe.result.errors[0]}"
            print(
                row(
                    f"{args.workers} idle logged-in connections",
                    "SASL",
                    probe.result.p50,
                    probe.result.p99,
                    summary,
                )
            )


if __name__ == "__main__":
    main()
