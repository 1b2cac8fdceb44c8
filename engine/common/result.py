"""Results of SQL statements run on a datasource, shared by every layer above it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.common.types import ColumnSpec, Row


@dataclass(frozen=True)
class QueryResult:
    """A read's typed columns and rows (values already match their Hive column types)."""

    columns: tuple[ColumnSpec, ...]
    rows: list[Row]
    truncated: bool  # more rows existed than the caller's cap
    elapsed: float  # seconds


@dataclass(frozen=True)
class WriteResult:
    rows_affected: int  # -1 when the driver cannot tell (DDL on some databases)
    elapsed: float
