"""beeline (hive-jdbc 2.3.10) and node hive-driver against the real server, as subprocesses.

They come from ``bin/install-test-clients`` (``~/.cache/hs2-clients``), which ``bin/setup`` and CI
run, so the tests run (never skip) when that directory exists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.support.hs2clients import LAB, beeline, event_rows, jdbc_url, needs_lab


@pytest.mark.beeline
@needs_lab
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["NONE", "NOSASL"])
def test_beeline_prints_theevent_rows(hs2: Any, mode: str) -> None:
    stack = hs2({"kyuubi.authentication": mode})
    result = beeline(jdbc_url(stack.host, stack.port, mode == "NOSASL"), "which table is the largest?")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = event_rows(result.stdout)
    assert [row["type"] for row in rows][:2] == ["agent_start", "step_start"]
    assert rows[-1]["type"] == "agent_finish"
    assert "which table is the largest?" in "".join(row.get("text", "") for row in rows)
    assert "Connected to: Kyuubi Data Agent" in result.stderr
    assert "RUNNING -> FINISHED" in result.stderr  # operation log lines fetched with fetchType=1


@pytest.mark.beeline
@needs_lab
@pytest.mark.timeout(120)
def test_beeline_shows_a_failed_statement(hs2: Any) -> None:
    stack = hs2()
    result = beeline(jdbc_url(stack.host, stack.port), "__deny:")
    assert result.returncode != 0
    assert "Error" in result.stderr and "42000" in result.stderr


@needs_lab
@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("mode", ["PLAIN", "NOSASL"])
def test_node_hive_driver(hs2: Any, mode: str) -> None:
    stack = hs2({"kyuubi.authentication": "NONE" if mode == "PLAIN" else "NOSASL"})
    result = subprocess.run(
        ["node", str(LAB / "node" / "select1.js"), str(stack.port), mode],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=LAB / "node",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"hive-driver {mode} [")
    rows = json.loads(result.stdout.split(" ", 2)[2])
    assert rows, result.stdout
