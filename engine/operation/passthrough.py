"""SQL answered without the LLM, and BI wrappers around a question:

- ``__sql: <query>`` (every routing mode) and, under ``sql.routing=auto``, a read-only query over
  existing tables (:class:`~engine.common.statement.SqlQuery`) run through the read-only boundary
  that ``run_select_query`` uses (the sqlglot guard, then the datasource's read-only execution)
  and return typed columns, in every result mode, streamed from the database cursor as the client
  reads them (:mod:`engine.operation.table_stream`).
- ``DESCRIBE QUERY <query>`` (Spark) answers the query's columns in DESCRIBE's shape; the query
  runs as ``SELECT * FROM (<query>) LIMIT 0`` through the same boundary.
- BI wrapper probes over a question, in ``table`` result mode:
  ``SELECT * | cols | COUNT(*) FROM (<question>) [AS] alias [LIMIT n]``. The inner question is
  answered once and the outer operation is applied to its table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlglot
from sqlglot import exp

from engine.common.cancel import CancelReason
from engine.common.config import QUERY_TIMEOUT, EngineConf
from engine.common.errors import InvalidStatementError, UnsupportedError
from engine.common.statement import BiWrapper
from engine.common.types import ColumnSpec, HiveType, RowBatch, TableSchema
from engine.operation.catalog_forms import DESCRIBE_SCHEMA, hive_type_text
from engine.operation.context import OperationContext
from engine.operation.execute import ExecuteStatement
from engine.operation.fetch_buffer import FetchOrientation
from engine.operation.operation import Operation
from engine.operation.state import OperationState
from engine.operation.table_stream import Rows, TableTarget, TableTransform, stream_table
from engine.tools import read_query
from engine.tools.port import ReadSource

log = logging.getLogger(__name__)


def _require_datasource(ctx: OperationContext) -> ReadSource:
    if ctx.datasource is None:
        raise UnsupportedError("no datasource is configured: set kyuubi.engine.data.agent.jdbc.url")
    return ctx.datasource


class PassthroughQuery(Operation):
    """SQL through the read-only boundary, typed columns, optional outer transform."""

    def __init__(
        self,
        ctx: OperationContext,
        sql: str,
        conf: EngineConf,
        *,
        run_async: bool,
        text: str | None = None,
        transform: TableTransform | None = None,
    ) -> None:
        super().__init__(ctx, sql if text is None else text, schema=None, run_async=run_async)
        self.sql = sql
        self.conf = conf
        self.transform = transform

    def run(self, submit: Callable[[Callable[[], None]], None]) -> None:
        """The rows stream while the client reads them, so the statement always runs on the
        pool; a synchronous ExecuteStatement returns once the columns are known (or it ended)."""
        run_async, self.run_async = self.run_async, True
        try:
            super().run(submit)
        finally:
            self.run_async = run_async
        if not run_async:
            self._wait_for_schema(self.conf.get(QUERY_TIMEOUT) + 1.0)

    def fetch(self, orientation: FetchOrientation, max_rows: int) -> RowBatch:
        """A stream that failed after its first rows went out ends with the failure, not with a
        silent short result (PyHive and impyla never ask for the status once rows came)."""
        batch = super().fetch(orientation, max_rows)
        if not batch.row_count and not batch.has_more_rows:
            error = self.error()
            if error is not None:
                raise error
        return batch

    def _ready(self) -> None:
        """The first rows are in the buffer: FINISHED (results available), while the rest stream."""
        if self.state is OperationState.RUNNING:
            self._set_state(OperationState.FINISHED)

    def cancel(self, reason: CancelReason = CancelReason.USER) -> None:
        """CancelOperation also stops a result still streaming after FINISHED."""
        super().cancel(reason)
        self.cancel_token.cancel(reason)
        self.buffer.finish()

    def run_internal(self) -> None:
        target = TableTarget(self.buffer, self.set_schema, self.add_log, self.cancel_token, self._ready)
        stream_table(_require_datasource(self.ctx), self.sql, self.conf, target, self.transform)


class DescribeQueryOperation(Operation):
    """Spark's ``DESCRIBE QUERY <query>``: the columns the query returns, without its rows."""

    def __init__(self, ctx: OperationContext, sql: str, conf: EngineConf, text: str) -> None:
        super().__init__(ctx, text, schema=DESCRIBE_SCHEMA, run_async=False)
        self.sql = sql
        self.conf = conf

    def run_internal(self) -> None:
        datasource = _require_datasource(self.ctx)
        dialect = datasource.sqlglot_dialect or None
        query = sqlglot.parse_one(self.sql, read=dialect)
        if not isinstance(query, exp.Query):
            raise InvalidStatementError("DESCRIBE QUERY takes one query (SELECT or WITH)")
        no_rows = exp.select("*").from_(query.subquery("q")).limit(0).sql(dialect=dialect)
        result = read_query(
            datasource, no_rows, max_rows=0, timeout=self.conf.get(QUERY_TIMEOUT), cancel=self.cancel_token
        )
        self.buffer.extend((column.name, hive_type_text(column), column.comment) for column in result.columns)


# --- wrapper probes --------------------------------------------------------------------------------
def wrapper_transform(wrapper: BiWrapper) -> TableTransform:
    """The outer ``SELECT * | cols | COUNT(*) ... [LIMIT n]`` applied to the inner answer's table."""
    limit = wrapper.limit
    if wrapper.count:
        label = wrapper.count_alias or "_c0"

        def count(schema: TableSchema, rows: Rows) -> tuple[TableSchema, Rows]:
            counted: Rows = [(len(rows),)]
            return TableSchema.of(ColumnSpec(label, HiveType.BIGINT)), counted[:limit]

        return count
    wanted = wrapper.columns

    def project(schema: TableSchema, rows: Rows) -> tuple[TableSchema, Rows]:
        if wanted:
            names = [column.name for column in schema.columns]
            lowered = [name.lower() for name in names]
            missing = [name for name in wanted if name.lower() not in lowered]
            if missing:
                raise InvalidStatementError(
                    f"the answer to the inner question has no column {', '.join(missing)}; "
                    f"its columns are: {', '.join(names)}"
                )
            picks = [lowered.index(name.lower()) for name in wanted]
            schema = TableSchema(tuple(schema.columns[i] for i in picks))
            rows = [tuple(row[i] for i in picks) for row in rows]
        return schema, rows if limit is None else rows[:limit]

    return project


class WrappedQuestion(ExecuteStatement):
    """A BI probe over a question: the agent answers ``inner`` in table mode, then the outer
    SELECT/COUNT/LIMIT applies to that table."""

    def __init__(
        self, ctx: OperationContext, inner: str, transform: TableTransform, conf: EngineConf, run_async: bool
    ) -> None:
        super().__init__(ctx, inner, conf, run_async=run_async, transform=transform)
