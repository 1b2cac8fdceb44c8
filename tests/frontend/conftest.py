"""Frontend fixtures: the real Thrift server over the real backend, sessions and operations,
on 127.0.0.1 port 0, with the ECHO provider unless a test passes its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.agent.echo import EchoProvider
from engine.backend import BackendService
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.frontend.server import ThriftServer
from engine.operation.manager import OperationManager
from engine.session.manager import SessionManager
from tests.frontend.rawclient import RawClient


@dataclass
class Stack:
    server: ThriftServer
    backend: BackendService
    host: str
    port: int

    def stop(self) -> None:
        self.server.stop()
        self.backend.stop()


def make_conf(tmp_path: Path, conf: dict[str, str] | None = None) -> EngineConf:
    values = {
        "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        "kyuubi.engine.data.agent.work.dir": str(tmp_path / "work"),
    }
    values.update(conf or {})
    return EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})


@pytest.fixture
def hs2(tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[Any]:
    """Factory ``hs2(conf=None, provider=None) -> Stack``; everything started is stopped after."""
    started: list[Stack] = []

    def factory(conf: dict[str, str] | None = None, provider: Any = None) -> Stack:
        engine_conf = make_conf(tmp_path, conf)
        operations = OperationManager(engine_conf, scheduler)
        sessions = SessionManager(engine_conf, provider or EchoProvider(), operations)
        backend = BackendService(engine_conf, sessions)
        server = ThriftServer(engine_conf, backend)
        try:
            host, port = server.start()
        except BaseException:
            backend.stop()
            raise
        stack = Stack(server, backend, host, port)
        started.append(stack)
        return stack

    yield factory
    for stack in reversed(started):
        stack.stop()


@pytest.fixture
def server(hs2: Any) -> Stack:
    """Default: kyuubi.authentication=NONE (SASL PLAIN, any password), ECHO provider."""
    return hs2()


@pytest.fixture
def raw(server: Stack) -> Iterator[RawClient]:
    """A raw Thrift client (SASL PLAIN) of the default server, closed after the test."""
    client = RawClient(server.host, server.port)
    yield client
    client.close()


@pytest.fixture
def nosasl_server(hs2: Any) -> Stack:
    return hs2({"kyuubi.authentication": "NOSASL"})


@pytest.fixture(autouse=True)
def _quiet_thrift_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.frontend")
