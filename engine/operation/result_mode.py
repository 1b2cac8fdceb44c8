"""Result modes: how an agent run's events become rows (``kyuubi.engine.data.agent.result.mode``).

- ``events`` (Kyuubi): one compact JSON row per event in a STRING ``reply`` column.
- ``answer``: one STRING row with the final answer text.
- ``table``: the rows of the run's last successful query as typed columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine.agent.approval import ApprovalBroker
from engine.agent.events import (
    AgentEvent,
    ApprovalRequestEvent,
    ContentDeltaEvent,
    ErrorEvent,
    StepStartEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from engine.common.cancel import CancelToken
from engine.common.config import TABLE_MODE_APPROVAL, EngineConf
from engine.common.errors import AgentError, EngineError, OperationCanceledError
from engine.common.result import QueryResult
from engine.common.types import REPLY_SCHEMA, ColumnSpec, HiveType, TableSchema
from engine.operation.fetch_buffer import IncrementalFetchBuffer
from engine.operation.table_stream import TableTarget, TableTransform, emit_table, stream_table
from engine.tools.port import ReadSource

log = logging.getLogger(__name__)

ANSWER_SCHEMA = TableSchema.of(ColumnSpec("answer", HiveType.STRING, "the agent's final answer"))


@dataclass(frozen=True)
class SinkContext:
    """What a sink writes to and may use: the operation's buffer and schema, its approvals and
    cancel token, the effective conf, the datasource (table mode re-reads capped tables) and an
    optional outer transform (BI wrappers)."""

    buffer: IncrementalFetchBuffer
    set_schema: Callable[[TableSchema], None]
    approvals: ApprovalBroker
    operation_id: str
    conf: EngineConf
    cancel: CancelToken
    datasource: ReadSource | None = None
    transform: TableTransform | None = None
    add_log: Callable[[str], None] = lambda line: None  # the operation log (a cut result says so)


class ResultSink:
    """Receives a run's events and writes rows. ``initial_schema`` None means "decided later"."""

    initial_schema: TableSchema | None = REPLY_SCHEMA

    def __init__(self, ctx: SinkContext) -> None:
        self.ctx = ctx
        self.buffer = ctx.buffer
        self.saw_error = False
        self.denies_approvals = False  # True: a gated call is denied at once instead of parking

    def on_event(self, event: AgentEvent, row: str | None = None) -> None:
        """One event of the run; ``row`` is its compact JSON when the caller already made it."""
        if isinstance(event, ErrorEvent):
            self.saw_error = True

    def on_finish(self) -> None:
        """The run ended normally; may raise EngineError (e.g. table mode without a table)."""

    def on_failure(self, error: EngineError) -> None:
        """The run failed or was cancelled; ``error`` is what the operation status will carry (the
        operation has already passed an ``error`` event through :meth:`on_event`)."""


class EventsSink(ResultSink):
    initial_schema = REPLY_SCHEMA

    def on_event(self, event: AgentEvent, row: str | None = None) -> None:
        super().on_event(event)
        self.buffer.append(event.to_row() if row is None else row)


class AnswerSink(ResultSink):
    """The final answer is the content text of the last step that produced any."""

    initial_schema = ANSWER_SCHEMA

    def __init__(self, ctx: SinkContext) -> None:
        super().__init__(ctx)
        self._step_parts: list[str] = []
        self._last_answer = ""

    def on_event(self, event: AgentEvent, row: str | None = None) -> None:
        super().on_event(event)
        if isinstance(event, StepStartEvent):
            self._close_step()
        elif isinstance(event, ContentDeltaEvent):
            self._step_parts.append(event.text)

    def _close_step(self) -> None:
        text = "".join(self._step_parts).strip()
        if text:
            self._last_answer = text
        self._step_parts = []

    def on_finish(self) -> None:
        self._close_step()
        self.buffer.append(self._last_answer)


TABLE_APPROVAL_DENIAL = (
    "denied: result mode 'table' shows no approval requests, so gated tool calls are denied "
    "(set kyuubi.engine.data.agent.table.mode.approval=WAIT to approve with __approve: from another "
    "statement, or run this statement in result mode 'events')"
)


class TableSink(ResultSink):
    """``table`` mode: the rows of the run's last successful query, as typed columns.

    The schema is decided when the run ends (a later query replaces an earlier one). A table cut
    at the tool's row cap (``query.max.rows``, sized for the model) is read again in full through
    the same read-only boundary, streamed to the client as it reads (``passthrough.max.rows``
    cuts it only when set). Gated tool calls cannot be seen
    by a table-reading client, so by default they are denied at once
    (``table.mode.approval=DENY``) instead of parking until the approval timeout.
    """

    initial_schema = None

    def __init__(self, ctx: SinkContext) -> None:
        super().__init__(ctx)
        self.approval_policy = ctx.conf.get(TABLE_MODE_APPROVAL)
        self.denies_approvals = self.approval_policy != "WAIT"
        self.table: QueryResult | None = None
        self.table_sql: str | None = None
        self._sql_by_call: dict[str, str] = {}
        self.denied = 0
        self.truncated = False

    def on_event(self, event: AgentEvent, row: str | None = None) -> None:
        super().on_event(event)
        if isinstance(event, ToolCallEvent):
            sql = event.args.get("sql")
            if isinstance(sql, str):
                self._sql_by_call[event.tool_call_id] = sql
        elif isinstance(event, ToolResultEvent):
            if not event.is_error and event.table is not None:
                self.table = event.table
                self.table_sql = self._sql_by_call.get(event.tool_call_id)
        elif isinstance(event, ApprovalRequestEvent) and self.denies_approvals:
            self.denied += 1
            self.ctx.approvals.deny_operation(self.ctx.operation_id, TABLE_APPROVAL_DENIAL)

    def on_finish(self) -> None:
        if self.table is None:
            detail = ""
            if self.denied:
                detail = f" ({self.denied} gated tool call(s) were denied: {TABLE_APPROVAL_DENIAL})"
            raise AgentError(
                "result mode 'table': the run produced no table (no query succeeded)"
                + detail
                + "; ask for data that a query can return, or use result mode 'events' or 'answer'"
            )
        table = self.table
        if table.truncated and self.table_sql and self.ctx.datasource is not None:
            # the tool's copy was cut at its row cap (sized for the model): stream the query again,
            # in full, through the same read-only boundary
            target = TableTarget(
                self.buffer, self.ctx.set_schema, self.ctx.add_log, self.ctx.cancel, bounded=False
            )
            try:
                stream_table(self.ctx.datasource, self.table_sql, self.ctx.conf, target, self.ctx.transform)
                return
            except OperationCanceledError:
                raise
            except EngineError as exc:
                if self.buffer.size:  # rows already went out: the failure is the statement's
                    raise
                log.warning(
                    "reading the capped table in full failed; keeping the capped rows: %s", exc.message
                )
        self.truncated = table.truncated
        if self.truncated:
            log.warning("table mode result was cut at a row cap (%d rows)", len(table.rows))
        emit_table(table.columns, table.rows, self.buffer, self.ctx.set_schema, self.ctx.transform)


SINKS: dict[str, type[ResultSink]] = {
    "events": EventsSink,
    "answer": AnswerSink,
    "table": TableSink,
}


def make_sink(mode: str, ctx: SinkContext) -> ResultSink:
    factory = SINKS.get(mode)
    if factory is None:
        raise EngineError(f"result mode {mode!r} is not available; accepted: {', '.join(sorted(SINKS))}")
    return factory(ctx)
