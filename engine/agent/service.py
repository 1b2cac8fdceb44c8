"""Builds the agent provider the engine runs: ECHO or OPENAI_COMPATIBLE (``provider`` key)."""

from __future__ import annotations

from typing import Any

from engine.agent.echo import EchoProvider
from engine.agent.provider import AgentProvider
from engine.common.config import EngineConf
from engine.common.errors import ConfigError


def build_provider(conf: EngineConf, datasource: Any = None, tools: Any = None) -> AgentProvider:
    kind = conf.effective_provider()
    if kind == "ECHO":
        return EchoProvider()
    if kind == "OPENAI_COMPATIBLE":
        from engine.agent.openai_provider import OpenAICompatibleProvider  # loads the openai SDK

        return OpenAICompatibleProvider(conf, datasource, tools)
    raise ConfigError(f"unknown agent provider {kind}")
