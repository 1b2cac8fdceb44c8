"""bin/data-agent-engine as users run it: --conf only, ECHO provider, real client, SIGTERM."""

from __future__ import annotations

import json
import queue
import re
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

from pyhive import hive

ROOT = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"engine serving on ([\d.]+):(\d+)")


def _start(args: list[str]) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "data-agent-engine"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, name="engine-output", daemon=True).start()
    return proc, lines


def _wait_for(lines: queue.Queue[str], pattern: re.Pattern[str], seen: list[str]) -> re.Match[str]:
    while True:
        line = lines.get(timeout=60)
        seen.append(line)
        assert line, "the engine exited before serving:\n" + "".join(seen)
        match = pattern.search(line)
        if match:
            return match


def test_engine_serves_with_only_conf_flags_and_stops_on_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        connection.executemany("INSERT INTO orders (total) VALUES (?)", [(9.5,), (20.0,)])
    proc, lines = _start(
        [
            "--conf", "kyuubi.frontend.thrift.binary.bind.host=127.0.0.1",
            "--conf", "kyuubi.frontend.thrift.binary.bind.port=0",
            "--conf", f"kyuubi.engine.data.agent.jdbc.url=jdbc:sqlite:{database}",
        ]
    )  # fmt: skip
    seen: list[str] = []
    try:
        match = _wait_for(lines, SERVING, seen)
        host, port = match.group(1), int(match.group(2))
        assert "provider ECHO" in match.string
        with hive.connect(host, port, username="alice", auth="NONE") as connection:
            cursor = connection.cursor()
            cursor.execute("how much did we sell?")
            events = [json.loads(row) for (row,) in cursor.fetchall()]
            assert events[0]["type"] == "agent_start" and events[-1]["type"] == "agent_finish"
            cursor.execute("__sql: SELECT SUM(total) AS revenue FROM orders")
            assert cursor.fetchall() == [(29.5,)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        _wait_for(lines, re.compile(r"engine stopped"), seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_bad_jdbc_url_fails_at_start_without_leaking_the_password() -> None:
    proc, lines = _start(
        ["--conf", "kyuubi.engine.data.agent.jdbc.url=jdbc:nosuch://h/db?password=hunter2-secret"]
    )
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = []
    while True:
        line = lines.get(timeout=10)
        if not line:
            break
        output.append(line)
    text = "".join(output)
    assert code == 2, text
    assert "nosuch" in text and "supported" in text
    assert "hunter2-secret" not in text


def test_an_idle_engine_stops_on_its_deadline_and_a_session_holds_it(start_engine: Any) -> None:
    """kyuubi.session.engine.idle.timeout is a timer on the engine's scheduler, armed at start and
    whenever the last session closes; a session open when it fires keeps the engine up."""
    engine = start_engine({"kyuubi.session.engine.idle.timeout": "PT2S"})
    conn = hive.connect(engine.host, engine.port, username="alice")
    try:
        assert not engine.app.wait(3)  # a session is open past the first deadline: no stop
    finally:
        conn.close()
    assert engine.app.wait(10)
    assert "idle for 2 s" in engine.app.stop_reason
