"""beeline (hive-jdbc 2.3.10) and node hive-driver against the real server, as subprocesses.

They come from ``bin/install-test-clients`` (``~/.cache/hs2-clients``), which ``bin/setup`` and CI
run, so the tests run (never skip) when that directory exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))
needs_lab = pytest.mark.skipif(not (LAB / "bin" / "env.sh").exists(), reason=f"{LAB} not installed")


def _beeline(url: str, question: str, user: str = "u") -> subprocess.CompletedProcess[str]:
    # the password travels through the environment of a subshell, not our argv; beeline itself
    # needs it on its command line, which is how real users run it
    script = f'source {LAB}/bin/env.sh; beeline -u "$URL" -n "$BUSER" -p "$BPASS" --silent=false -e "$Q"'
    env = {**os.environ, "URL": url, "BUSER": user, "BPASS": "x", "Q": question}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=110, env=env)


def _event_rows(output: str) -> list[dict[str, Any]]:
    rows = []
    for line in output.splitlines():
        cell = line.strip().strip("|").strip()
        if cell.startswith("{") and cell.endswith("}"):
            rows.append(json.loads(cell))
    return rows


@pytest.mark.beeline
@needs_lab
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["NONE", "NOSASL"])
def test_beeline_prints_the_event_rows(hs2: Any, mode: str) -> None:
    stack = hs2({"kyuubi.authentication": mode})
    url = f"jdbc:hive2://{stack.host}:{stack.port}/default" + (";auth=noSasl" if mode == "NOSASL" else "")
    result = _beeline(url, "which table is the largest?")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _event_rows(result.stdout)
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
    result = _beeline(f"jdbc:hive2://{stack.host}:{stack.port}/default", "__deny:")
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
