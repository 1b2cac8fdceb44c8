"""Result-set domain types shared by every layer: Hive column types, schemas and row batches.

Thrift structs never travel below the frontend; these do. The frontend converts them to
``TTableSchema`` and ``TRowSet``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class HiveType(enum.Enum):
    """Hive column types; the value is the ``TTypeId`` name (also the Hive type string)."""

    BOOLEAN = "BOOLEAN_TYPE"
    TINYINT = "TINYINT_TYPE"
    SMALLINT = "SMALLINT_TYPE"
    INT = "INT_TYPE"
    BIGINT = "BIGINT_TYPE"
    FLOAT = "FLOAT_TYPE"
    DOUBLE = "DOUBLE_TYPE"
    STRING = "STRING_TYPE"
    TIMESTAMP = "TIMESTAMP_TYPE"
    BINARY = "BINARY_TYPE"
    DECIMAL = "DECIMAL_TYPE"
    NULL = "NULL_TYPE"
    DATE = "DATE_TYPE"
    VARCHAR = "VARCHAR_TYPE"
    CHAR = "CHAR_TYPE"

    @property
    def type_name(self) -> str:
        """The Hive SQL type name (``STRING``, ``BIGINT``...), as DESCRIBE shows it."""
        return self.value[: -len("_TYPE")]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: HiveType = HiveType.STRING
    comment: str = ""
    precision: int | None = None  # DECIMAL
    scale: int | None = None  # DECIMAL
    max_length: int | None = None  # VARCHAR / CHAR


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[ColumnSpec, ...]

    @classmethod
    def of(cls, *columns: ColumnSpec) -> TableSchema:
        return cls(tuple(columns))


# One row of database values. Values are dynamically typed by nature (None, bool, int, float,
# Decimal, str, bytes, date, datetime, time, JSON-like lists and dicts); the column's HiveType
# says which kind each holds once a result is typed.
Row = tuple[Any, ...]

REPLY_SCHEMA = TableSchema.of(ColumnSpec("reply", HiveType.STRING, "agent event as compact JSON"))
LOG_SCHEMA = TableSchema.of(ColumnSpec("operation_log", HiveType.STRING))


# The highest TProtocolVersion index we speak: HIVE_CLI_SERVICE_PROTOCOL_V11 (V1 is 0).
LATEST_PROTOCOL = 10


@dataclass
class RowBatch:
    """Rows in column-major form: ``columns[i]`` holds column i's values (None is NULL).

    ``protocol`` is the session's TProtocolVersion index, carried from the operation so that the
    frontend encodes the batch for its client without looking the session up again.
    """

    columns: list[list[Any]]
    start_offset: int = 0
    has_more_rows: bool = False
    schema: TableSchema | None = field(default=None, repr=False)
    protocol: int = LATEST_PROTOCOL

    @property
    def row_count(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @classmethod
    def from_rows(
        cls,
        rows: list[Row],
        width: int,
        start_offset: int = 0,
        has_more_rows: bool = False,
        protocol: int = LATEST_PROTOCOL,
    ) -> RowBatch:
        if rows:
            columns = [list(column) for column in zip(*rows, strict=True)]
        else:
            columns = [[] for _ in range(width)]
        return cls(columns, start_offset, has_more_rows, protocol=protocol)
