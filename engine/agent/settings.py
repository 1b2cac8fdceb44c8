"""The agent settings of one run, read from the conf with its session and statement overlays,
and the policy that checks a session's or statement's settings when they are set.

Values were already type-checked by the config registry; this adds the checks that need the agent's
own knowledge: the tool names in ``tools.disabled``, the administrator's approval-mode floor, and
the model being set. Every error names its key.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from engine.agent.approval import check_approval_floor
from engine.common.config import (
    APPROVAL_MODE,
    APPROVAL_MODE_MIN,
    APPROVAL_TIMEOUT,
    COMPACTION_TRIGGER_TOKENS,
    LLM_MAX_RETRIES,
    LLM_REQUEST_TIMEOUT,
    LLM_RETRY_BACKOFF,
    LOG_CONTENT,
    MAX_ITERATIONS,
    MODEL,
    TEMPERATURE,
    TOOLS_DISABLED,
    EngineConf,
)
from engine.common.errors import ConfigError
from engine.tools.base import RiskLevel


@dataclass(frozen=True)
class RunSettings:
    model: str
    max_iterations: int
    approval_mode: str
    approval_timeout: float
    disabled_tools: frozenset[str]
    temperature: float | None
    compaction_trigger: int
    request_timeout: float
    max_retries: int
    retry_backoff: float
    log_content: bool

    @classmethod
    def from_conf(cls, conf: EngineConf, known_tools: Collection[str]) -> RunSettings:
        model = conf.get(MODEL)
        if not model:
            raise ConfigError(
                f"no model is configured: set {MODEL.key} for the engine, the session or the statement"
            )
        disabled = disabled_tools(conf, known_tools)
        return cls(
            model=str(model),
            max_iterations=conf.get(MAX_ITERATIONS),
            approval_mode=conf.get(APPROVAL_MODE),
            approval_timeout=conf.get(APPROVAL_TIMEOUT),
            disabled_tools=disabled,
            temperature=conf.get(TEMPERATURE),
            compaction_trigger=conf.get(COMPACTION_TRIGGER_TOKENS),
            request_timeout=conf.get(LLM_REQUEST_TIMEOUT),
            max_retries=conf.get(LLM_MAX_RETRIES),
            retry_backoff=conf.get(LLM_RETRY_BACKOFF),
            log_content=conf.get(LOG_CONTENT),
        )

    def gated(self, risk: RiskLevel | None) -> bool:
        """Does a call of a tool with this risk level wait for approval?"""
        if risk is None or self.approval_mode == "AUTO_APPROVE":
            return False
        if self.approval_mode == "STRICT":
            return True
        return risk is not RiskLevel.SAFE


def disabled_tools(conf: EngineConf, known_tools: Collection[str]) -> frozenset[str]:
    """``tools.disabled`` of ``conf``; a name that is not a tool is an error naming the key."""
    named: tuple[str, ...] = conf.get(TOOLS_DISABLED)
    unknown = sorted(set(named) - set(known_tools))
    if unknown:
        raise ConfigError(
            f"invalid value for {TOOLS_DISABLED.key}: unknown tool {unknown[0][:100]!r}; "
            f"known tools: {', '.join(sorted(known_tools))}"
        )
    return frozenset(named)


@dataclass(frozen=True)
class SettingsPolicy:
    """Checks a session's or statement's agent settings the moment they are set (OpenSession,
    ``SET``, a confOverlay), so that a bad value fails there instead of at run time."""

    approval_floor: str
    known_tools: frozenset[str]

    @classmethod
    def from_conf(cls, conf: EngineConf, known_tools: Collection[str]) -> SettingsPolicy:
        return cls(conf.get(APPROVAL_MODE_MIN), frozenset(known_tools))

    def check(self, conf: EngineConf) -> None:
        check_approval_floor(conf.get(APPROVAL_MODE), self.approval_floor)
        disabled_tools(conf, self.known_tools)
