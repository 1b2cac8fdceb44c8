"""The agent's tools: the registry, the SQL and schema tools, the read-only guard and the
offloaded-output store. The read-only boundary's entry point is :func:`read_query`."""

from engine.tools.base import RiskLevel, Tool, ToolArgs, ToolContext, ToolResult
from engine.tools.guard import MUTATION_HINT, GuardVerdict, ReadOnlyViolationError, check_read_only
from engine.tools.registry import DEFAULT_TOOL_NAMES, ToolRegistry
from engine.tools.sql import read_query, stream_query

__all__ = [
    "DEFAULT_TOOL_NAMES",
    "MUTATION_HINT",
    "GuardVerdict",
    "ReadOnlyViolationError",
    "RiskLevel",
    "Tool",
    "ToolArgs",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "check_read_only",
    "read_query",
    "stream_query",
]
