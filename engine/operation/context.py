"""What an operation needs from its session, passed down (operations never reach up)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.agent.provider import AgentProvider, AgentSession
from engine.common.config import EngineConf
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
    # Session-level effects of control statements:
    set_session_conf: Callable[[str, str], None] = field(default=lambda key, value: None)
    session_conf_items: Callable[[], dict[str, str]] = field(default=dict)
    set_current_database: Callable[[str], None] = field(default=lambda name: None)
    current_database: Callable[[], str] = field(default=lambda: "default")
