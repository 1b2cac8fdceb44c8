"""Helpers for end-to-end agent tests: an engine on port 0 answering through the fake LLM (its
datasource and SQL tools built from ``jdbc.url`` as in production), driven by PyHive over loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyhive import hive

from tests.fakes.openai_server import FakeOpenAIServer

AGENT = "kyuubi.engine.data.agent."
TERMINAL = {2, 3, 4, 5, 6}  # FINISHED, CANCELED, CLOSED, ERROR, UKNOWN


def engine_conf(llm: FakeOpenAIServer, jdbc_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    conf = {
        AGENT + "provider": "OPENAI_COMPATIBLE",
        AGENT + "openai.endpoint": llm.url,
        AGENT + "openai.api.key": "sk-e2e-0123456789abcdefghij",
        AGENT + "model": "fake-model",
        AGENT + "jdbc.url": jdbc_url,
        AGENT + "llm.retry.backoff": "PT0.01S",
    }
    conf.update(extra or {})
    return conf


def connect(engine: Any, user: str = "alice", configuration: dict[str, str] | None = None) -> Any:
    return hive.connect(host=engine.host, port=engine.port, username=user, configuration=configuration)


@dataclass
class Row:
    event: dict[str, Any]
    at: float


def stream_events(cursor: Any, timeout: float = 30.0) -> Iterator[Row]:
    """Yield each event row as PyHive fetches it, until the operation ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = cursor.fetchone()  # PyHive's fetchmany waits until it has them all
        if row is None:
            return
        yield Row(json.loads(row[0]), time.monotonic())
    raise AssertionError("the statement did not finish in time")


def final_state(cursor: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cursor.poll()
        if status.operationState in TERMINAL:
            return status
        time.sleep(0.02)
    raise AssertionError("the operation did not reach a terminal state")
