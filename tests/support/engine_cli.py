"""``bin/data-agent-engine`` run to its exit, for the tests of start-up refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def engine_exit(*conf: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the engine with ``--conf`` for each of ``conf`` (on a free port) until it exits."""
    argv = [str(ROOT / "bin" / "data-agent-engine"), "--conf", "kyuubi.frontend.thrift.binary.bind.port=0"]
    for pair in conf:
        argv += ["--conf", pair]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
