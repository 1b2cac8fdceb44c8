"""What every tool is made of: a name, a description, a risk level, a pydantic argument model
and a ``run`` function; plus the per-call context and the result handed back to the model."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from engine.common.cancel import CancelToken
from engine.common.config import EngineConf
from engine.common.result import QueryResult


class RiskLevel(enum.Enum):
    SAFE = "SAFE"
    DESTRUCTIVE = "DESTRUCTIVE"


@dataclass
class ToolContext:
    """One tool call's context: the session, its private output directory, the call's cancel
    token (cancelling it stops the running SQL) and the effective configuration."""

    session_id: str
    workdir: Path
    cancel: CancelToken
    conf: EngineConf


@dataclass(frozen=True)
class ToolResult:
    """What the model sees (``output``), whether it is an error, and the structured table of a
    query for the typed result mode."""

    output: str
    is_error: bool = False
    table: QueryResult | None = None

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(message, True)


class ToolArgs(BaseModel):
    """Base of every argument model: unknown arguments are an error the model can fix."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


A = TypeVar("A", bound=ToolArgs)


@dataclass(frozen=True)
class Tool(Generic[A]):
    name: str
    description: str
    risk: RiskLevel
    args: type[A]
    run: Callable[[A, ToolContext], ToolResult]
    offload: bool = True  # False for tools that page through already offloaded output

    def spec(self) -> dict[str, Any]:
        """The OpenAI ``tools=`` entry, generated from the argument model."""
        schema = _strip_titles(self.args.model_json_schema())
        schema.setdefault("properties", {})
        schema["additionalProperties"] = False
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _strip_titles(value)
            for key, value in node.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    return node
