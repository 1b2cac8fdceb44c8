"""The OPENAI_COMPATIBLE provider: the ReAct agent over an OpenAI-compatible endpoint.

Imported only when that provider is chosen, so ECHO engines never load the ``openai`` SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

from engine.agent.events import AgentEvent
from engine.agent.llm import LlmClient
from engine.agent.memory import ConversationMemory
from engine.agent.port import Toolbox
from engine.agent.provider import AgentSession, RunRequest
from engine.agent.react import ReactAgent
from engine.common.config import (
    LLM_CONNECT_TIMEOUT,
    MEMORY_MAX_MESSAGES,
    MODEL,
    OPENAI_API_KEY,
    OPENAI_ENDPOINT,
    EngineConf,
)
from engine.common.metrics import Metrics
from engine.tools.port import SqlSource

log = logging.getLogger(__name__)


class OpenAICompatibleProvider:
    """The ReAct agent over an OpenAI-compatible endpoint; memory lives in each AgentSession."""

    name = "OPENAI_COMPATIBLE"

    def __init__(
        self,
        conf: EngineConf,
        datasource: SqlSource,
        tools: Toolbox,
        llm: LlmClient | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._conf = conf
        self._llm = llm or LlmClient(
            conf.get(OPENAI_ENDPOINT),
            conf.get(OPENAI_API_KEY),
            connect_timeout=conf.get(LLM_CONNECT_TIMEOUT),
            metrics=metrics,
        )
        self.agent = ReactAgent(self._llm, tools, datasource.prompt_section())
        if not conf.get(MODEL):
            log.warning("no %s is set; every session or statement must choose one", MODEL.key)

    def open_session(self, session: AgentSession) -> None:
        if session.memory is None:
            session.memory = ConversationMemory(self._conf.get(MEMORY_MAX_MESSAGES))

    def close_session(self, session: AgentSession) -> None:
        if session.memory is not None:
            session.memory.clear()

    def run(self, request: RunRequest) -> Generator[AgentEvent, None, None]:
        return self.agent.run(request)

    def close(self) -> None:
        self._llm.close()
