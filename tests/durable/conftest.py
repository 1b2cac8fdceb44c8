"""Fixtures of the durable-runs tests. Every test runs on a SQLite store file and on a fresh
database of the real PostgreSQL; the LLM is the scripted OpenAI-compatible server, spoken to by
the real ``openai`` client; clients are real PyHive (and beeline) over loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningEngine
from tests.durable.support import AGENT, API_KEY, EngineProcess, StoreTarget, agent_conf, in_process_conf
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.databases import pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    if request.param == "sqlite":
        path = tmp_path / "store" / "runs.db"
        path.parent.mkdir()
        yield StoreTarget("sqlite", f"sqlite:///{path}", path=path)
        return
    with pg_database("durable") as name:
        yield StoreTarget(
            "postgresql", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}", database=name
        )


Start = Callable[..., RunningEngine]


@pytest.fixture
def durable(start_engine: Any, llm: FakeOpenAIServer, shop: Path, store: StoreTarget) -> Start:
    """Factory: ``durable(**conf)`` starts an in-process engine on the scripted LLM, the SQLite
    shop and the test's store (keys given without the ``kyuubi.engine.data.agent.`` prefix)."""

    def factory(**extra: str) -> RunningEngine:
        return start_engine(in_process_conf(llm, f"jdbc:sqlite:{shop}", store, extra))  # type: ignore[no-any-return]

    return factory


@pytest.fixture
def engine_process(tmp_path: Path, llm: FakeOpenAIServer, shop: Path, store: StoreTarget) -> Iterator[Any]:
    """Factory: ``engine_process(**conf)`` starts ``python -m engine`` (its own process) on the
    scripted LLM, the shop and the test's store, with a fixed work dir; killed at teardown if it
    still runs. The API key travels in the environment."""
    started: list[EngineProcess] = []

    def factory(**extra: str) -> EngineProcess:
        conf = {
            "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
            "kyuubi.frontend.thrift.binary.bind.port": "0",
            AGENT + "work.dir": str(tmp_path / "engine-work"),
            **agent_conf(llm, f"jdbc:sqlite:{shop}", store),
        }
        conf.update(
            {key if key.startswith("kyuubi.") else AGENT + key: value for key, value in extra.items()}
        )
        process = EngineProcess(conf, env={"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": API_KEY})
        started.append(process)
        return process.start()

    yield factory
    for process in started:
        process.stop()
