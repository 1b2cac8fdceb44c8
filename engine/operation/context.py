"""What an operation needs from its session, passed down (operations never reach up)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.agent.provider import AgentProvider, AgentSession
from engine.common.config import EngineConf
from engine.operation.run_service import RunService
from engine.tools.port import CatalogView, ReadSource


@dataclass
class OperationContext:
    session_id: str
    user: str
    conf: EngineConf  # engine conf with the session overlay applied
    agent_session: AgentSession
    provider: AgentProvider
    protocol: int = 10  # the session's TProtocolVersion index (V1 = 0)
    fetch_wait: float = 0.2
    compact_threshold: int = 1024
    datasource: ReadSource | None = None  # None: an engine without a datasource (some tests)
    catalog: CatalogView | None = None  # for metadata operations and SHOW/DESCRIBE
    runs: RunService | None = None  # the engine's runs: agent runs register there; __attach:, SHOW RUNS
    conversation_id: str | None = None  # the session's conversation (its runs belong to it)
    # queues the conversation's row in the run registry (once, before its first run)
    record_conversation: Callable[[], None] = field(default=lambda: None)
    # Session-level effects of control statements:
    set_session_conf: Callable[[str, str], None] = field(default=lambda key, value: None)
    session_conf_items: Callable[[], dict[str, str]] = field(default=dict)
    set_current_database: Callable[[str], None] = field(default=lambda name: None)
    current_database: Callable[[], str] = field(default=lambda: "default")
