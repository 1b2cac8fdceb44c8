"""Builds the agent provider the engine runs: ECHO or OPENAI_COMPATIBLE (``provider`` key)."""

from __future__ import annotations

from engine.agent.echo import EchoProvider
from engine.agent.port import Toolbox
from engine.agent.provider import AgentProvider
from engine.common.config import EngineConf
from engine.common.errors import ConfigError
from engine.common.metrics import Metrics
from engine.tools.port import SqlSource


def build_provider(
    conf: EngineConf, datasource: SqlSource, tools: Toolbox, *, metrics: Metrics | None = None
) -> AgentProvider:
    """The configured provider; ``metrics`` records its LLM requests."""
    kind = conf.effective_provider()
    if kind == "ECHO":
        return EchoProvider()
    if kind == "OPENAI_COMPATIBLE":
        from engine.agent.openai_provider import OpenAICompatibleProvider  # loads the openai SDK

        return OpenAICompatibleProvider(conf, datasource, tools, metrics=metrics)
    raise ConfigError(f"unknown agent provider {kind}")
