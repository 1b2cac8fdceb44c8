"""Shared fixtures: an in-process engine on port 0, driven by real clients over loopback."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from engine.app import EngineApp
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.databases import sqlite_shop
from tests.support.zookeeper import ZooKeeper, ZooKeeperError, start_zookeeper

os.environ.setdefault("PYTHONHASHSEED", "0")


@dataclass
class RunningEngine:
    app: EngineApp
    host: str
    port: int

    def stop(self) -> None:
        self.app.stop()

    @property
    def backend(self) -> Any:
        return self.app.backend


def base_conf(tmp_path: Path) -> dict[str, str]:
    return {
        "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        "kyuubi.frontend.rest.bind.port": "0",
        "kyuubi.engine.data.agent.work.dir": str(tmp_path / "engine-work"),
    }


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``start_engine(conf: dict | None, provider=None, datasource=None) -> RunningEngine``.

    Starts an in-process engine on 127.0.0.1 port 0 (ECHO provider and the bundled demo SQLite
    database unless the conf says otherwise) and stops it at teardown.
    """
    started: list[EngineApp] = []

    def factory(
        conf: dict[str, str] | None = None, *, provider: Any = None, datasource: Any = None
    ) -> RunningEngine:
        values = base_conf(tmp_path)
        values.update(conf or {})
        engine_conf = EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})
        app = EngineApp(engine_conf, provider=provider, datasource=datasource)
        started.append(app)
        host, port = app.start()
        return RunningEngine(app, host, port)

    yield factory
    for app in reversed(started):
        app.stop()


@pytest.fixture
def engine(start_engine: Any) -> RunningEngine:
    """A default engine: SASL PLAIN (kyuubi.authentication=NONE), ECHO provider, demo database."""
    return start_engine()


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    """The scripted OpenAI-compatible LLM (a real HTTP server; every request body recorded)."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A small SQLite shop: ``orders(id, customer, amount)`` with three rows."""
    return sqlite_shop(tmp_path / "shop.sqlite")


@pytest.fixture(scope="session")
def scheduler() -> Iterator[DeadlineScheduler]:
    """The deadline scheduler of components a test builds by hand (an engine makes its own)."""
    clock = DeadlineScheduler("test-deadline-scheduler")
    yield clock
    clock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeper]:
    """One throwaway ZooKeeper for the test session (Debian's package; ZooKeeper tests never skip)."""
    try:
        server = start_zookeeper()
    except ZooKeeperError as exc:
        pytest.fail(str(exc))
    yield server
    server.close()


@pytest.fixture
def zk(zookeeper: ZooKeeper) -> Iterator[KazooClient]:
    """A kazoo client on the session's ZooKeeper."""
    client = KazooClient(hosts=zookeeper.address, timeout=10.0)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def namespace(zk: KazooClient) -> Iterator[str]:
    """A fresh kyuubi.ha.namespace per test; every top-level znode ``<namespace>_...`` is removed
    afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    for child in zk.get_children("/"):
        if child.startswith(name + "_"):
            zk.delete("/" + child, recursive=True)
