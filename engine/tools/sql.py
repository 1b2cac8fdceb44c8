"""The SQL tools and :func:`read_query`, the one entry to the read-only boundary.

``read_query`` asks the datasource for the facts the guard checks against (PostgreSQL's
function-volatility catalog, MySQL's default database), applies the sqlglot guard
(:mod:`engine.tools.guard`) in the datasource's dialect and then runs the statement the guard
checked through ``execute_read``, which is read-only by the database's own rules and always
rolled back. Every SAFE tool that runs SQL, and the ``__sql:`` passthrough, goes through it.
"""

from __future__ import annotations

import logging

from pydantic import Field

from engine.common.cancel import CancelToken
from engine.common.config import QUERY_MAX_ROWS, QUERY_TIMEOUT
from engine.common.result import QueryResult
from engine.tools.base import RiskLevel, Tool, ToolArgs, ToolContext, ToolResult
from engine.tools.guard import check_read_only
from engine.tools.port import ReadSource, RowStream, SqlSource
from engine.tools.render import render_result

log = logging.getLogger(__name__)

RUN_SELECT_QUERY = "run_select_query"
RUN_MUTATION_QUERY = "run_mutation_query"


def guard_dialect(datasource: ReadSource) -> str | None:
    """The sqlglot dialect name of ``datasource`` (None: the generic fallback)."""
    return datasource.sqlglot_dialect or None


def read_query(
    datasource: ReadSource, sql: str, *, max_rows: int, timeout: float, cancel: CancelToken
) -> QueryResult:
    """Run ``sql`` through both layers of the read-only boundary; returns the QueryResult.

    Raises ReadOnlyViolationError (an InvalidStatementError) when the guard rejects the SQL and
    the datasource's EngineError subclasses when the database fails it.
    """
    policy = datasource.read_policy(cancel)
    verdict = check_read_only(sql, guard_dialect(datasource), policy)
    return datasource.execute_read(verdict.statement, max_rows=max_rows, timeout=timeout, cancel=cancel)


def stream_query(
    datasource: ReadSource,
    sql: str,
    *,
    timeout: float,
    cancel: CancelToken,
    batch_rows: int,
    max_rows: int = 0,
) -> RowStream:
    """:func:`read_query` as a stream: the same guard, then ``stream_read`` (the same read-only
    transaction), rows read from the database as the returned stream is iterated; close it."""
    policy = datasource.read_policy(cancel)
    verdict = check_read_only(sql, guard_dialect(datasource), policy)
    return datasource.stream_read(
        verdict.statement, timeout=timeout, cancel=cancel, batch_rows=batch_rows, max_rows=max_rows
    )


def query_limits(ctx: ToolContext) -> tuple[int, float]:
    return ctx.conf.get(QUERY_MAX_ROWS), ctx.conf.get(QUERY_TIMEOUT)


class RunSelectQueryArgs(ToolArgs):
    sql: str = Field(
        description="Exactly one read-only SQL statement (SELECT, WITH ... SELECT, VALUES, EXPLAIN) "
        "in the datasource's dialect. Prefer an explicit LIMIT."
    )


class RunMutationQueryArgs(ToolArgs):
    sql: str = Field(
        description="Exactly one SQL statement that changes data or schema (INSERT, UPDATE, DELETE, "
        "CREATE ...). It runs in a transaction that is committed; the user must approve it."
    )


def sql_tools(datasource: SqlSource) -> tuple[Tool, ...]:
    def run_select_query(args: RunSelectQueryArgs, ctx: ToolContext) -> ToolResult:
        max_rows, timeout = query_limits(ctx)
        result = read_query(datasource, args.sql, max_rows=max_rows, timeout=timeout, cancel=ctx.cancel)
        return ToolResult(render_result(result, max_rows), table=result)

    def run_mutation_query(args: RunMutationQueryArgs, ctx: ToolContext) -> ToolResult:
        _max_rows, timeout = query_limits(ctx)
        if not args.sql.strip():
            return ToolResult.error("the SQL is empty; give one statement")
        result = datasource.execute_write(args.sql, timeout=timeout, cancel=ctx.cancel)
        count = result.rows_affected
        affected = (
            "the database did not report how many rows were affected"
            if count < 0
            else f"{count} row{'s' if count != 1 else ''} affected"
        )
        return ToolResult(f"The statement ran and was committed: {affected} ({result.elapsed:.3f} s).")

    return (
        Tool(
            RUN_SELECT_QUERY,
            "Run one read-only SQL query (SELECT/WITH/VALUES/EXPLAIN, or SHOW/DESCRIBE where the "
            "dialect has them) and return the rows as a Markdown table. Statements that change "
            "anything are rejected.",
            RiskLevel.SAFE,
            RunSelectQueryArgs,
            run_select_query,
        ),
        Tool(
            RUN_MUTATION_QUERY,
            "Run one SQL statement that changes data or schema, in a transaction, and report the "
            "rows affected. Needs the user's approval; use only when the user asked for a change.",
            RiskLevel.DESTRUCTIVE,
            RunMutationQueryArgs,
            run_mutation_query,
        ),
    )
