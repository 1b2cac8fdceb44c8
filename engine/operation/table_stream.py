"""A typed result streamed from the datasource into an operation's fetch buffer.

The operation's thread reads the database cursor one batch at a time and appends each batch to
the fetch buffer, staying at most ``passthrough.readahead.batches`` batches ahead of the client:
while the client decodes one batch, the next ones are read, and memory stays bounded whatever the
result's size. The first batch is in the buffer (and the schema published) before the rest is
read. A cancel or a close ends the wait at once and the stream is closed, which stops the
database statement. ``passthrough.max.rows`` (opt-in) cuts the result with a WARN line; every
streamed result ends with an INFO line giving its row count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from engine.common.cancel import CancelToken
from engine.common.config import (
    PASSTHROUGH_BATCH_ROWS,
    PASSTHROUGH_MAX_ROWS,
    PASSTHROUGH_READAHEAD_BATCHES,
    QUERY_TIMEOUT,
    EngineConf,
)
from engine.common.errors import OperationCanceledError
from engine.common.types import ColumnSpec, HiveType, Row, TableSchema
from engine.operation.fetch_buffer import IncrementalFetchBuffer
from engine.operation.operation_log import stamp
from engine.tools import stream_query
from engine.tools.port import ReadSource, RowStream

log = logging.getLogger(__name__)

Rows = list[Row]
TableTransform = Callable[[TableSchema, Rows], tuple[TableSchema, Rows]]

ROOM_WAIT = 1.0  # seconds between cancel checks while the client has not read the read-ahead


# --- a whole table -----------------------------------------------------------------------------
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


# --- a streamed table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TableTarget:
    """Where a streamed table goes: an operation's buffer, schema, log and cancel token."""

    buffer: IncrementalFetchBuffer
    set_schema: Callable[[TableSchema], None]
    add_log: Callable[[str], None]
    cancel: CancelToken
    # called once the first rows are in the buffer: a passthrough reports FINISHED then, as
    # HiveServer2 does, because impyla and hive-jdbc wait for it before their first fetch
    ready: Callable[[], None] = lambda: None
    # False: no read-ahead bound (an agent run in table mode reports FINISHED only at its end, and
    # a client waiting for that state would never read)
    bounded: bool = True


def stream_table(
    datasource: ReadSource,
    sql: str,
    conf: EngineConf,
    target: TableTarget,
    transform: TableTransform | None = None,
) -> int:
    """Run ``sql`` through the read-only boundary and stream its rows into ``target``; the
    number of rows published. An outer ``transform`` (a BI wrapper's COUNT/LIMIT/projection)
    needs the whole table, which is then read first."""
    batch_rows = conf.get(PASSTHROUGH_BATCH_ROWS)
    max_rows = conf.get(PASSTHROUGH_MAX_ROWS)
    stream = stream_query(
        datasource,
        sql,
        timeout=conf.get(QUERY_TIMEOUT),
        cancel=target.cancel,
        batch_rows=batch_rows,
        max_rows=max_rows,
    )
    with contextlib.closing(stream):
        if transform is not None:
            rows = [row for batch in stream for row in batch]
            emit_table(stream.columns, rows, target.buffer, target.set_schema, transform)
        else:
            ahead = batch_rows * conf.get(PASSTHROUGH_READAHEAD_BATCHES) if target.bounded else sys.maxsize
            _pump(stream, target, ahead)
        total = stream.rows_read
        if stream.truncated:
            target.add_log(
                stamp(
                    "WARN",
                    f"the result was cut at {total} rows (kyuubi.engine.data.agent.passthrough.max.rows="
                    f"{max_rows}); more rows exist: raise or unset it to read them all",
                )
            )
    target.add_log(stamp("INFO", f"the result has {total} rows{' (cut)' if stream.truncated else ''}"))
    return total


def _pump(stream: RowStream, target: TableTarget, ahead: int) -> None:
    buffer, cancel = target.buffer, target.cancel
    target.set_schema(TableSchema(stream.columns))
    bare = len(stream.columns) == 1 and stream.columns[0].type is HiveType.STRING
    ready = target.ready
    for batch in stream:
        while not buffer.wait_for_room(ahead, ROOM_WAIT):
            cancel.raise_if_cancelled()
            if buffer.finished:  # released without a cancel: nobody will read on
                raise OperationCanceledError("the result was closed while it was being read")
        if bare:
            buffer.extend([row[0] for row in batch])
        else:
            buffer.extend(batch)
        ready()
    cancel.raise_if_cancelled()
    ready()
