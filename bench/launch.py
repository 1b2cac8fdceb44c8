"""Launch latency: invoking ``python -m launcher launch`` for a new datasource until the engine is
registered and answers OpenSession (PyHive). Prints the median and maximum over N runs.

    .venv/bin/python bench/launch.py [--runs 10] [--zookeeper host:port]

Without --zookeeper a throwaway server is started (tests/support/zookeeper.py: Debian's package).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pyhive import hive

ROOT = Path(__file__).resolve().parent.parent


def launcher(
    command: str, address: str, namespace: str, work: Path, url: str
) -> subprocess.CompletedProcess[str]:
    conf = [
        f"kyuubi.ha.addresses={address}",
        f"kyuubi.ha.namespace={namespace}",
        f"kyuubi.engine.data.agent.work.dir={work}",
    ]
    argv = [sys.executable, "-m", "launcher", command] + [arg for pair in conf for arg in ("--conf", pair)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KYUUBI_ENGINE_DATA_AGENT_JDBC_URL": url}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--zookeeper")
    args = parser.parse_args()
    started_zk = None
    address = args.zookeeper
    if not address:
        sys.path.insert(0, str(ROOT))
        from tests.support.zookeeper import start_zookeeper

        started_zk = start_zookeeper()
        address = started_zk.address
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        try:
            for run in range(args.runs):
                db = Path(tmp) / f"ds{run}.db"
                sqlite3.connect(db).close()
                url = f"jdbc:sqlite:{db}"
                begin = time.perf_counter()
                proc = launcher("launch", address, namespace, work, url)
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    return 1
                host, port = proc.stdout.splitlines()[0].rsplit(":", 1)
                hive.connect(host, int(port), username="bench", auth="NONE").close()
                times.append(time.perf_counter() - begin)
                print(f"run {run + 1}: {times[-1] * 1000:.0f} ms")
                launcher("stop", address, namespace, work, url)
        finally:
            if started_zk is not None:
                started_zk.close()
    print(
        f"launch to OpenSession over {len(times)} runs: median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms (target <= 1500 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
