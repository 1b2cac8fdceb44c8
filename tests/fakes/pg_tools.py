"""The registry-compatible tool set of :mod:`tests.fakes.sql_tools` over a real PostgreSQL.

A query registers ``connection.cancel`` on the call's cancel token, the way the engine's SQL
tools cancel a running statement, so tests can watch ``pg_stat_activity`` for the cancel.
"""

from __future__ import annotations

from typing import Any

import psycopg2

from tests.fakes.sql_tools import SqliteTools, ToolResult


class PostgresTools(SqliteTools):
    def __init__(self, dsn: str) -> None:
        super().__init__(path=None)  # type: ignore[arg-type]
        self.dsn = dsn

    def call(self, name: str, arguments: str | dict[str, Any], ctx: Any) -> ToolResult:
        self._ctx = ctx
        return super().call(name, arguments, ctx)

    def _query(self, sql: str, readonly: bool) -> ToolResult:
        connection = psycopg2.connect(self.dsn)
        unregister = self._ctx.cancel.on_cancel(connection.cancel)
        try:
            connection.set_session(readonly=readonly, autocommit=False)
            with connection.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall() if cursor.description else []
            connection.commit()
            return ToolResult("\n".join(" | ".join(map(str, row)) for row in rows))
        finally:
            unregister()
            connection.close()
