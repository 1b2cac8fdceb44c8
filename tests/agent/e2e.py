"""Helpers for end-to-end agent tests: an engine on port 0 answering through the fake LLM, driven
by PyHive over loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyhive import hive

from tests.conftest import base_conf
from tests.fakes.openai_server import FakeOpenAIServer

AGENT = "kyuubi.engine.data.agent."
TERMINAL = {2, 3, 4, 5, 6}  # FINISHED, CANCELED, CLOSED, ERROR, UKNOWN


def real_tools_available() -> bool:
    try:
        from engine.datasource import Datasource  # noqa: F401
        from engine.tools import ToolRegistry  # noqa: F401
    except ImportError:
        return False
    return True


def engine_conf(llm: FakeOpenAIServer, jdbc_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    conf = {
        AGENT + "provider": "OPENAI_COMPATIBLE",
        AGENT + "openai.endpoint": llm.url,
        AGENT + "openai.api.key": "sk-e2e-0123456789abcdefghij",
        AGENT + "model": "fake-model",
        AGENT + "jdbc.url": jdbc_url,
        AGENT + "llm.retry.backoff": "PT0.01S",
        AGENT + "fetch.wait": "PT10S",  # PyHive takes an empty fetch for the end of the results
    }
    conf.update(extra or {})
    return conf


def start_agent_engine(
    start_engine: Any, tmp_path: Path, conf: dict[str, str], sqlite_path: Path | None = None
) -> Any:
    """The real wiring (datasource + SQL tools from the conf) when available; otherwise the
    provider over a registry-compatible SQLite tool set."""
    if real_tools_available() or sqlite_path is None:
        return start_engine(conf)
    from engine.agent.openai_provider import OpenAICompatibleProvider
    from engine.common.config import EngineConf
    from tests.fakes.sql_tools import SqliteTools

    values = base_conf(tmp_path)
    values.update(conf)
    engine_conf_obj = EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})
    provider = OpenAICompatibleProvider(engine_conf_obj, None, SqliteTools(sqlite_path))
    return start_engine(conf, provider=provider, datasource=object())


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
