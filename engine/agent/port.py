"""What the agent needs from the layer below: a :class:`Toolbox` of callable tools.

``engine.tools.ToolRegistry`` implements it; tests may hand in their own.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from engine.tools.base import RiskLevel, ToolContext, ToolResult


class Toolbox(Protocol):
    def names(self) -> list[str]: ...

    def risk(self, name: str) -> RiskLevel | None:
        """The risk level of a tool, None for an unknown name."""
        ...

    def specs(self, disabled: Collection[str] = ()) -> list[dict[str, Any]]:
        """The OpenAI ``tools=`` entries of the enabled tools (shared: never mutate them)."""
        ...

    def descriptions(self, disabled: Collection[str] = ()) -> list[tuple[str, str, RiskLevel]]: ...

    def call(self, name: str, arguments: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run one tool call; never raises."""
        ...

    def close(self) -> None: ...
