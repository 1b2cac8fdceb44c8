"""Helpers of the durable-runs tests: the run store seen with the test's own connections, an engine
in its own process, and PyHive connections that die the way a crashed client's do."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pyhive import hive

from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.conftest import StoreDb

ROOT = Path(__file__).resolve().parents[2]
AGENT = "kyuubi.engine.data.agent."
API_KEY = "sk-durable-0123456789abcdefghij"
SERVING = re.compile(r"engine serving on ([\d.]+):(\d+)")


@dataclass(frozen=True)
class StoreTarget(StoreDb):
    """A run store the test created (a SQLite file or a fresh PostgreSQL database), read with
    connections of the test's own."""

    def events(self, run_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(seq, type, payload) of a run's stored events, in order."""
        rows = self.query(
            "SELECT seq, type, payload FROM events WHERE run_id = :run ORDER BY seq", run=run_id
        )
        return [(seq, kind, json.loads(payload)) for seq, kind, payload in rows]

    def status(self, run_id: str) -> str | None:
        rows = self.query("SELECT status FROM runs WHERE id = :run", run=run_id)
        return rows[0][0] if rows else None

    def run(self, run_id: str) -> dict[str, Any]:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                row = connection.execute(
                    sa.text("SELECT * FROM runs WHERE id = :run"), {"run": run_id}
                ).first()
                return dict(row._mapping) if row is not None else {}
        finally:
            engine.dispose()


def agent_conf(llm: FakeOpenAIServer, jdbc_url: str, store: StoreTarget) -> dict[str, str]:
    """An engine answering through the scripted LLM over ``jdbc_url``, keeping runs in ``store``."""
    return {
        AGENT + "provider": "OPENAI_COMPATIBLE",
        AGENT + "openai.endpoint": llm.url,
        AGENT + "model": "fake-model",
        AGENT + "jdbc.url": jdbc_url,
        AGENT + "store.url": store.url,
        AGENT + "llm.retry.backoff": "PT0.01S",
    }


def in_process_conf(
    llm: FakeOpenAIServer, jdbc_url: str, store: StoreTarget, extra: dict[str, str]
) -> dict[str, str]:
    """:func:`agent_conf` with the API key (an in-process engine reads it from its configuration)
    and ``extra`` keys, given without the ``kyuubi.engine.data.agent.`` prefix unless ``kyuubi.``."""
    conf = agent_conf(llm, jdbc_url, store)
    conf[AGENT + "openai.api.key"] = API_KEY
    conf.update({key if key.startswith("kyuubi.") else AGENT + key: value for key, value in extra.items()})
    return conf


def connect(host: str, port: int, user: str = "alice", configuration: dict[str, str] | None = None) -> Any:
    return hive.connect(host=host, port=port, username=user, configuration=configuration)


def drop(connection: Any) -> None:
    """Close a PyHive connection's socket under it: no CloseOperation, no CloseSession."""
    sock: socket.socket = connection._transport._trans.handle
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def rows(cursor: Any, count: int) -> list[dict[str, Any]]:
    """The next ``count`` event rows, each fetched as soon as it exists."""
    found = []
    for _ in range(count):
        row = cursor.fetchone()
        assert row is not None, f"the statement ended after {len(found)} rows: {found}"
        found.append(json.loads(row[0]))
    return found


def rest(cursor: Any) -> list[dict[str, Any]]:
    return [json.loads(row) for (row,) in cursor.fetchall()]


def payloads(events: list[tuple[int, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [payload for _, _, payload in events]


@dataclass
class EngineProcess:
    """``python -m engine`` in its own process, as users run it; its output is kept."""

    conf: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    host: str = ""
    port: int = 0
    output: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def start(self, timeout: float = 60.0) -> EngineProcess:
        args = [sys.executable, "-m", "engine"]
        for key, value in self.conf.items():
            args += ["--conf", f"{key}={value}"]
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(Path.home()),
            "PYTHONPATH": str(ROOT),
            **self.env,
        }
        self._proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment, cwd=ROOT
        )
        threading.Thread(target=self._pump, name="engine-output", daemon=True).start()
        match = self.wait_for(SERVING, timeout)
        self.host, self.port = match.group(1), int(match.group(2))
        return self

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 60.0) -> re.Match[str]:
        while True:
            line = self._lines.get(timeout=timeout)
            self.output.append(line)
            assert line, "the engine exited:\n" + "".join(self.output[-60:])
            match = pattern.search(line)
            if match:
                return match

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def signal(self, number: signal.Signals) -> None:
        assert self._proc is not None
        self._proc.send_signal(number)

    def wait(self, timeout: float = 60.0) -> int:
        assert self._proc is not None
        code = self._proc.wait(timeout=timeout)
        while True:  # the rest of its output
            try:
                line = self._lines.get(timeout=5.0)
            except queue.Empty:
                break
            if not line:
                break
            self.output.append(line)
        return code

    def stop(self) -> None:
        """Kill it if it still runs (fixture teardown)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=30)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
