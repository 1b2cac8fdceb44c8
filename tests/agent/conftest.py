"""Fixtures that drive the agent loop directly: the real openai client against the fake server,
the engine's datasource and tool registry over a real SQLite file (or the real PostgreSQL), and a
real approval broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.agent.approval import ApprovalBroker, ApprovalRegistry, AuditLog
from engine.agent.events import AgentEvent
from engine.agent.openai_provider import OpenAICompatibleProvider
from engine.agent.provider import AgentSession, RunRequest
from engine.common.cancel import CancelToken
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.datasource import Datasource
from engine.datasource.catalog import Catalog
from engine.tools import ToolRegistry
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support import databases

API_KEY = "sk-test-0123456789abcdefghijklmnop"
JDBC_URL = "kyuubi.engine.data.agent.jdbc.url"


def active_queries(marker: str) -> int:
    """How many statements containing ``marker`` are running on the PostgreSQL server (this probe
    aside)."""
    return databases.pg_query(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE %s",
        f"%{marker}%",
    )[0][0]


@dataclass
class RunOutcome:
    events: list[AgentEvent]
    times: list[float]
    error: BaseException | None

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def of(self, kind: str) -> list[AgentEvent]:
        return [event for event in self.events if event.type == kind]

    def text(self) -> str:
        return "".join(event.text for event in self.of("content_delta"))  # type: ignore[attr-defined]


@dataclass
class AgentHarness:
    llm: FakeOpenAIServer
    datasource: Datasource
    tools: ToolRegistry
    provider: OpenAICompatibleProvider
    session: AgentSession
    conf: EngineConf
    audit_path: Path
    approvals: ApprovalRegistry
    scheduler: DeadlineScheduler
    sessions: list[AgentSession] = field(default_factory=list)

    def request(
        self,
        question: str,
        overlay: dict[str, str] | None = None,
        cancel: CancelToken | None = None,
        session: AgentSession | None = None,
    ) -> RunRequest:
        return RunRequest(
            question=question,
            session=session or self.session,
            operation_id=uuid.uuid4().hex,
            conf=self.conf.with_overlay(overlay, source="statement"),
            cancel=cancel or self.token(60),
        )

    def token(self, timeout: float) -> CancelToken:
        """A run's cancel token timing out after ``timeout`` seconds, as an operation's does."""
        return CancelToken(self.scheduler, deadline=time.monotonic() + timeout)

    def run(
        self,
        question: str,
        overlay: dict[str, str] | None = None,
        cancel: CancelToken | None = None,
        on_event: Any = None,
        session: AgentSession | None = None,
    ) -> RunOutcome:
        events: list[AgentEvent] = []
        times: list[float] = []
        error: BaseException | None = None
        try:
            for event in self.provider.run(self.request(question, overlay, cancel, session)):
                events.append(event)
                times.append(time.monotonic())
                if on_event is not None:
                    on_event(event)
        except Exception as exc:
            error = exc
        return RunOutcome(events, times, error)

    def new_session(self, user: str = "alice") -> AgentSession:
        session_id = uuid.uuid4().hex
        workdir = self.session.workdir.parent / session_id
        workdir.mkdir(parents=True, exist_ok=True)
        session = AgentSession(session_id, user, workdir, ApprovalBroker(session_id, user, self.approvals))
        self.provider.open_session(session)
        self.sessions.append(session)
        return session

    def close_sessions(self) -> None:
        for session in [self.session, *self.sessions]:
            session.approvals.close()
            self.provider.close_session(session)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A unique, empty PostgreSQL schema, dropped after the test."""
    with databases.pg_schema("agent") as schema:
        yield schema


@pytest.fixture
def harness(tmp_path: Path, shop: Path, scheduler: DeadlineScheduler) -> Iterator[Any]:
    """Factory: ``harness(conf=None) -> AgentHarness``. The datasource is the SQLite ``shop``
    unless ``conf`` names another ``jdbc.url``; datasource, catalog and tool registry are wired
    as the engine wires them, and everything is closed after the test."""
    with ExitStack() as stack:

        def factory(conf: dict[str, str] | None = None) -> AgentHarness:
            llm = stack.enter_context(FakeOpenAIServer())
            values = {
                JDBC_URL: f"jdbc:sqlite:{shop}",
                "kyuubi.engine.data.agent.provider": "OPENAI_COMPATIBLE",
                "kyuubi.engine.data.agent.openai.endpoint": llm.url,
                "kyuubi.engine.data.agent.model": "fake-model",
                "kyuubi.engine.data.agent.llm.retry.backoff": "PT0.01S",
                "kyuubi.engine.data.agent.llm.request.timeout": "PT10S",
            }
            values.update(conf or {})
            engine_conf = EngineConf.load(
                [f"{k}={v}" for k, v in values.items()], environ={"OPENAI_API_KEY": API_KEY}
            )
            datasource = Datasource.from_conf(engine_conf, scheduler)
            stack.callback(datasource.close)
            tools = ToolRegistry.default(
                datasource, Catalog(datasource, engine_conf), engine_conf, scheduler=scheduler
            )
            stack.callback(tools.close)
            provider = OpenAICompatibleProvider(engine_conf, datasource, tools)
            stack.callback(provider.close)
            audit_path = tmp_path / "audit.log"
            workdir = tmp_path / "sessions" / uuid.uuid4().hex
            workdir.mkdir(parents=True)
            approvals = ApprovalRegistry(AuditLog(audit_path))
            session = AgentSession("s1", "alice", workdir, ApprovalBroker("s1", "alice", approvals))
            provider.open_session(session)
            built = AgentHarness(
                llm, datasource, tools, provider, session, engine_conf, audit_path, approvals, scheduler
            )
            stack.callback(built.close_sessions)
            return built

        yield factory
