"""Result modes: how an agent run's events become rows (``kyuubi.engine.data.agent.result.mode``).

- ``events`` (Kyuubi): one compact JSON row per event in a STRING ``reply`` column.
- ``answer``: one STRING row with the final answer text.
- ``table``: the rows of the run's last successful query as typed columns.
"""

from __future__ import annotations

import dataclasses
import decimal
import logging
from collections.abc import Callable, Iterator, Sequence
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
from engine.common.config import PASSTHROUGH_MAX_ROWS, QUERY_TIMEOUT, TABLE_MODE_APPROVAL, EngineConf
from engine.common.errors import AgentError, EngineError, OperationCanceledError
from engine.common.result import QueryResult
from engine.common.types import REPLY_SCHEMA, ColumnSpec, HiveType, Row, TableSchema
from engine.operation.fetch_buffer import IncrementalFetchBuffer
from engine.tools import read_query
from engine.tools.port import ReadSource

log = logging.getLogger(__name__)

ANSWER_SCHEMA = TableSchema.of(ColumnSpec("answer", HiveType.STRING, "the agent's final answer"))


Rows = list[Row]
TableTransform = Callable[[TableSchema, Rows], tuple[TableSchema, Rows]]


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
    the same read-only boundary, up to ``passthrough.max.rows``. Gated tool calls cannot be seen
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
        if table.truncated:
            table = self._read_in_full(table)
        self.truncated = table.truncated
        if self.truncated:
            log.warning("table mode result was cut at a row cap (%d rows)", len(table.rows))
        emit_table(table.columns, table.rows, self.buffer, self.ctx.set_schema, self.ctx.transform)

    def _read_in_full(self, table: QueryResult) -> QueryResult:
        datasource = self.ctx.datasource
        if not self.table_sql or datasource is None:
            return table
        conf = self.ctx.conf
        try:
            return read_query(
                datasource,
                self.table_sql,
                max_rows=conf.get(PASSTHROUGH_MAX_ROWS),
                timeout=conf.get(QUERY_TIMEOUT),
                cancel=self.ctx.cancel,
            )
        except OperationCanceledError:
            raise
        except EngineError as exc:
            log.warning("reading the capped table in full failed; keeping the capped rows: %s", exc.message)
            return table


def emit_table(
    columns: Sequence[ColumnSpec],
    rows: Sequence[Sequence[object]],
    buffer: IncrementalFetchBuffer,
    set_schema: Callable[[TableSchema], None],
    transform: TableTransform | None = None,
) -> None:
    """Publish a typed table: the schema first (GetResultSetMetadata), then its rows."""
    schema, table_rows = normalize_table(columns, rows)
    if transform is not None:
        schema, table_rows = transform(schema, table_rows)
    set_schema(schema)
    buffer.extend(table_rows)


_INTEGERS = (HiveType.TINYINT, HiveType.SMALLINT, HiveType.INT, HiveType.BIGINT)
_LIMITS = {HiveType.TINYINT: 2**7, HiveType.SMALLINT: 2**15, HiveType.INT: 2**31, HiveType.BIGINT: 2**63}


def normalize_table(
    columns: Sequence[ColumnSpec], rows: Sequence[Sequence[object]]
) -> tuple[TableSchema, Rows]:
    """Make each column's declared type hold for every value, so that encoding never fails.

    Dynamic typing (SQLite) can put text in an INT column: such a column widens (INT -> BIGINT
    -> DOUBLE) or falls back to STRING. Rows become tuples of the schema's width.
    """
    table_rows: Rows = [row if type(row) is tuple else tuple(row) for row in rows]
    fixed = []
    for index, column in enumerate(columns):
        kind = column.type
        if kind in _INTEGERS:
            kind = _integer_type(kind, [row[index] for row in table_rows])
        elif kind in (HiveType.FLOAT, HiveType.DOUBLE):
            if not all(
                v is None or isinstance(v, int | float | decimal.Decimal) for v in _col(table_rows, index)
            ):
                kind = HiveType.STRING
        elif kind is HiveType.BOOLEAN:
            if not all(v is None or isinstance(v, bool | int) for v in _col(table_rows, index)):
                kind = HiveType.STRING
        fixed.append(column if kind is column.type else dataclasses.replace(column, type=kind))
    if any(
        kind is HiveType.DOUBLE and column.type in _INTEGERS
        for kind, column in zip((c.type for c in fixed), columns, strict=True)
    ):
        table_rows = [_floats(row, fixed, columns) for row in table_rows]
    return TableSchema(tuple(fixed)), table_rows


def _col(rows: Rows, index: int) -> Iterator[object]:
    return (row[index] for row in rows)


def _integer_type(kind: HiveType, values: list[object]) -> HiveType:
    integers = [v for v in values if type(v) is int]
    if len(integers) == sum(v is not None for v in values):
        biggest = max((abs(v) for v in integers), default=0)
        if biggest < _LIMITS[kind]:
            return kind
        return HiveType.BIGINT if biggest < 2**63 else HiveType.DECIMAL
    if all(v is None or isinstance(v, int | float | decimal.Decimal) for v in values):
        return HiveType.DOUBLE
    return HiveType.STRING


def _floats(row: Row, fixed: list[ColumnSpec], original: Sequence[ColumnSpec]) -> Row:
    return tuple(
        float(value) if value is not None and new.type is HiveType.DOUBLE and old.type in _INTEGERS else value
        for value, new, old in zip(row, fixed, original, strict=True)
    )


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
