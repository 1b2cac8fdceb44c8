"""Fixtures of the REST tests: an in-process engine whose REST API listens on a free loopback port
(real uvicorn), reached with httpx; the agent answers through the scripted OpenAI server over the
SQLite shop, and runs are kept in a SQLite run store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningEngine
from tests.durable.support import AGENT, API_KEY, StoreTarget, agent_conf
from tests.fakes.openai_server import FakeOpenAIServer
from tests.rest.support import Api

Start = Callable[..., tuple[RunningEngine, Api]]


@pytest.fixture
def rest_engine(start_engine: Any, llm: FakeOpenAIServer, shop: Path, tmp_path: Path) -> Iterator[Start]:
    """Factory: ``rest_engine(**conf)`` starts an engine on the scripted LLM, the shop and a SQLite
    run store (keys without ``kyuubi.`` get the agent prefix) and answers it with its REST API."""
    apis: list[Api] = []

    def factory(**extra: str) -> tuple[RunningEngine, Api]:
        path = tmp_path / "store" / "runs.db"
        path.parent.mkdir(exist_ok=True)
        conf = agent_conf(llm, f"jdbc:sqlite:{shop}", StoreTarget("sqlite", f"sqlite:///{path}", path=path))
        conf[AGENT + "openai.api.key"] = API_KEY
        conf["kyuubi.server.administrators"] = "root"
        conf.update(
            {key if key.startswith("kyuubi.") else AGENT + key: value for key, value in extra.items()}
        )
        engine: RunningEngine = start_engine(conf)
        api = Api(f"http://127.0.0.1:{engine.app.rest_port}")
        apis.append(api)
        return engine, api

    yield factory
    for api in apis:
        api.close()


@pytest.fixture
def api(rest_engine: Start) -> Api:
    return rest_engine()[1]
