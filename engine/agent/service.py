"""Choose and build the agent provider from configuration."""

from __future__ import annotations

from typing import Any

from engine.agent.echo import EchoProvider
from engine.agent.provider import AgentProvider
from engine.common.config import EngineConf
from engine.common.errors import ConfigError


def build_provider(conf: EngineConf, datasource: Any = None, tools: Any = None) -> AgentProvider:
    name = conf.effective_provider()
    if name == "ECHO":
        return EchoProvider()
    raise ConfigError(f"provider {name} is not available in this build")
