"""The agent settings of one run, read from the conf with its session and statement overlays.

Values were already type-checked by the config registry; this adds the checks that need the tool
registry (names in ``tools.disabled``) and the model being set. Every error names its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.common.config import (
    APPROVAL_MODE,
    APPROVAL_TIMEOUT,
    COMPACTION_TRIGGER_TOKENS,
    LLM_MAX_RETRIES,
    LLM_REQUEST_TIMEOUT,
    LLM_RETRY_BACKOFF,
    LOG_CONTENT,
    MAX_ITERATIONS,
    MODEL,
    TEMPERATURE,
    TOOL_CALL_TIMEOUT,
    TOOLS_DISABLED,
    EngineConf,
)
from engine.common.errors import ConfigError


@dataclass(frozen=True)
class RunSettings:
    model: str
    max_iterations: int
    approval_mode: str
    approval_timeout: float
    tool_call_timeout: float
    disabled_tools: frozenset[str]
    temperature: float | None
    compaction_trigger: int
    request_timeout: float
    max_retries: int
    retry_backoff: float
    log_content: bool

    @classmethod
    def from_conf(cls, conf: EngineConf, known_tools: list[str]) -> RunSettings:
        model = conf.get(MODEL)
        if not model:
            raise ConfigError(
                f"no model is configured: set {MODEL.key} for the engine, the session or the statement"
            )
        disabled = frozenset(conf.get(TOOLS_DISABLED) or ())
        unknown = sorted(disabled - set(known_tools))
        if unknown:
            raise ConfigError(
                f"invalid value for {TOOLS_DISABLED.key}: unknown tool {unknown[0]!r}; "
                f"known tools: {', '.join(sorted(known_tools))}"
            )
        return cls(
            model=str(model),
            max_iterations=int(conf.get(MAX_ITERATIONS)),
            approval_mode=str(conf.get(APPROVAL_MODE)),
            approval_timeout=float(conf.get(APPROVAL_TIMEOUT)),
            tool_call_timeout=float(conf.get(TOOL_CALL_TIMEOUT)),
            disabled_tools=disabled,
            temperature=_optional_float(conf.get(TEMPERATURE)),
            compaction_trigger=int(conf.get(COMPACTION_TRIGGER_TOKENS)),
            request_timeout=float(conf.get(LLM_REQUEST_TIMEOUT)),
            max_retries=int(conf.get(LLM_MAX_RETRIES)),
            retry_backoff=float(conf.get(LLM_RETRY_BACKOFF)),
            log_content=bool(conf.get(LOG_CONTENT)),
        )

    def gated(self, risk: Any) -> bool:
        """Does a call of a tool with this risk level wait for approval?"""
        if risk is None or self.approval_mode == "AUTO_APPROVE":
            return False
        if self.approval_mode == "STRICT":
            return True
        return str(getattr(risk, "value", risk)).upper() != "SAFE"


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
