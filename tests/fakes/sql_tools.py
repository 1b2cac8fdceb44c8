"""A small tool registry over a real SQLite file, speaking the engine.tools registry interface.

Used by the agent tests while they drive the loop directly (without the engine's SQL tools):
``specs(disabled)``, ``descriptions(disabled)``, ``risk(name)`` and ``call(name, arguments, ctx)``
that never raises. ``slow_query`` blocks until its context is cancelled (it registers a cancel
hook on ``ctx.cancel`` the way the real SQL tools do) and records that it was cancelled.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RiskLevel(enum.Enum):
    SAFE = "SAFE"
    DESTRUCTIVE = "DESTRUCTIVE"


@dataclass(frozen=True)
class ToolResult:
    output: str
    is_error: bool = False
    table: Any = None


_TOOLS: dict[str, tuple[str, RiskLevel]] = {
    "run_select_query": ("Run one read-only SQL query and return its rows.", RiskLevel.SAFE),
    "run_mutation_query": ("Run one SQL statement that changes data.", RiskLevel.DESTRUCTIVE),
    "slow_query": ("A query that runs until cancelled.", RiskLevel.SAFE),
    "big_output": ("Return a large output of `size` characters.", RiskLevel.SAFE),
}


class SqliteTools:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.cancelled = threading.Event()
        self.slow_started = threading.Event()
        self.contexts: list[Any] = []

    def specs(self, disabled: frozenset[str] | set[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": {
                        "type": "object",
                        "properties": {"sql": {"type": "string"}, "size": {"type": "integer"}},
                    },
                },
            }
            for name, (description, _risk) in _TOOLS.items()
            if name not in disabled
        ]

    def descriptions(
        self, disabled: frozenset[str] | set[str] | tuple[str, ...] = ()
    ) -> list[tuple[str, str, RiskLevel]]:
        return [
            (name, description, risk) for name, (description, risk) in _TOOLS.items() if name not in disabled
        ]

    def risk(self, name: str) -> RiskLevel | None:
        entry = _TOOLS.get(name)
        return entry[1] if entry else None

    def call(self, name: str, arguments: str | dict[str, Any], ctx: Any) -> ToolResult:
        args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
        self.calls.append((name, args))
        self.contexts.append(ctx)
        try:
            if name == "run_select_query":
                return self._query(args["sql"], readonly=True)
            if name == "run_mutation_query":
                return self._query(args["sql"], readonly=False)
            if name == "slow_query":
                return self._slow(ctx)
            if name == "big_output":
                size = int(args.get("size", 5000))
                return ToolResult(("row of output data\n" * (size // 19 + 1))[:size])
            return ToolResult(f"unknown tool {name}", True)
        except Exception as exc:
            return ToolResult(f"{type(exc).__name__}: {exc}", True)

    def _query(self, sql: str, readonly: bool) -> ToolResult:
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        with sqlite3.connect(uri, uri=True) as connection:
            cursor = connection.execute(sql)
            if cursor.description is None:
                connection.commit()
                return ToolResult(f"{cursor.rowcount} rows affected")
            columns = [item[0] for item in cursor.description]
            rows = cursor.fetchall()
        lines = [" | ".join(columns)] + [" | ".join(str(value) for value in row) for row in rows]
        return ToolResult("\n".join(lines), table={"columns": columns, "rows": rows})

    def _slow(self, ctx: Any) -> ToolResult:
        self.slow_started.set()
        unregister = ctx.cancel.on_cancel(self.cancelled.set)
        try:
            if self.cancelled.wait(30):
                return ToolResult("the query was cancelled", True)
            return ToolResult("slow query finished")
        finally:
            unregister()
