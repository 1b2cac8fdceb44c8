"""The contract between operations and agent implementations.

An operation builds a :class:`RunRequest` and iterates :meth:`AgentProvider.run`, a generator
of :mod:`engine.agent.events`. A provider keeps per-session state in the :class:`AgentSession`
it is handed at ``open_session`` (memory, approvals); the session layer owns its lifetime.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.agent.approval import ApprovalBroker
from engine.agent.events import AgentEvent
from engine.agent.memory import ConversationMemory
from engine.common.cancel import CancelToken
from engine.common.config import EngineConf


@dataclass
class AgentSession:
    """Agent-side state of one HiveServer2 session."""

    session_id: str
    user: str
    workdir: Path  # per-session directory for offloaded tool output; removed on close
    approvals: ApprovalBroker
    memory: ConversationMemory | None = None  # the conversation (None for providers without one)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class RunRequest:
    question: str
    session: AgentSession
    operation_id: str
    conf: EngineConf  # engine conf with the session and statement overlays applied
    cancel: CancelToken  # cancelled on CancelOperation/close; carries the run deadline


class AgentProvider(Protocol):
    name: str

    def open_session(self, session: AgentSession) -> None: ...

    def close_session(self, session: AgentSession) -> None: ...

    def run(self, request: RunRequest) -> Generator[AgentEvent, None, None]: ...

    def close(self) -> None: ...
