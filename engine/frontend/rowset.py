"""RowBatch -> ``TRowSet``: column-based for protocol V6 and later, row-based before.

This is the hot path of FetchResults. A STRING column whose values are already ``str`` goes to
``TStringColumn`` as the very list the batch holds, with an all-zero NULL bitmap: no per-row
Python work happens here, and thriftpy2's C binary protocol encodes the list. Other columns
are converted with one pass over their values.

NULL bitmap: bit ``i % 8`` (least significant first) of byte ``i // 8`` marks row ``i`` NULL; it
ends at the last NULL, as HiveServer2's does.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from engine.common.hive_text import date_text, value_text
from engine.common.types import ColumnSpec, HiveType, RowBatch, TableSchema
from engine.frontend.idl import TCLI, ThriftStruct

COLUMNAR_MIN_PROTOCOL = 5  # HIVE_CLI_SERVICE_PROTOCOL_V6

_NONE_TYPE = type(None)

# Hive type -> (TColumn field, T*Column class, value used in place of NULL, converter)
_BOOL = ("boolVal", TCLI.TBoolColumn, False, bool)
_BYTE = ("byteVal", TCLI.TByteColumn, 0, int)
_I16 = ("i16Val", TCLI.TI16Column, 0, int)
_I32 = ("i32Val", TCLI.TI32Column, 0, int)
_I64 = ("i64Val", TCLI.TI64Column, 0, int)
_DOUBLE = ("doubleVal", TCLI.TDoubleColumn, 0.0, float)


def _date(value: Any) -> str:
    return date_text(value) if isinstance(value, datetime.date) else value_text(value)


# Text that hive-jdbc parses per column type (Timestamp.valueOf, Date.valueOf, new BigDecimal):
# value_text already writes timestamps in UTC without an offset and decimals without an exponent;
# a DATE column also takes only the date part of a timestamp.
_TEXT: dict[HiveType, Callable[[Any], str]] = {HiveType.DATE: _date}


def to_text(value: object, hive_type: HiveType = HiveType.STRING) -> str:
    """The Hive text form of a value sent in a string-encoded column of ``hive_type``."""
    return _TEXT.get(hive_type, value_text)(value)


def null_bitmap(values: list[Any]) -> bytes:
    """The NULL bitmap of ``values``, as long as HiveServer2 makes it: up to the byte of the last
    NULL, one zero byte when there is none (Hive's ``ColumnBuffer``). Clients read the missing
    bytes as "not NULL"; PyHive walks every bit it is sent in Python, so a full-length all-zero
    bitmap would cost it 10,000 loop turns per 10,000-row batch."""
    if None not in values:
        return b"\x00"
    last = len(values) - 1 - values[::-1].index(None)
    bitmap = bytearray(last // 8 + 1)
    for index, value in enumerate(values[: last + 1]):
        if value is None:
            bitmap[index >> 3] |= 1 << (index & 7)
    return bytes(bitmap)


def _string_values(values: list[Any], hive_type: HiveType) -> list[str]:
    kinds = set(map(type, values))
    if kinds <= {str}:
        return values  # the fast path: hand the list over as it is
    if kinds <= {str, _NONE_TYPE}:
        return ["" if value is None else value for value in values]
    text = _TEXT.get(hive_type, value_text)
    return ["" if value is None else text(value) for value in values]


def _typed_values(values: list[Any], placeholder: Any, convert: Callable[[Any], Any]) -> list[Any]:
    return [placeholder if value is None else convert(value) for value in values]


def _binary(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return value_text(value).encode("utf-8")


def _spec(hive_type: HiveType) -> tuple[str, Any, Any, Callable[[Any], Any]] | None:
    return {
        HiveType.BOOLEAN: _BOOL,
        HiveType.TINYINT: _BYTE,
        HiveType.SMALLINT: _I16,
        HiveType.INT: _I32,
        HiveType.BIGINT: _I64,
        HiveType.FLOAT: _DOUBLE,
        HiveType.DOUBLE: _DOUBLE,
    }.get(hive_type)


def to_column(values: list[Any], column: ColumnSpec) -> ThriftStruct:
    nulls = null_bitmap(values)
    if column.type is HiveType.BINARY:
        data = [b"" if value is None else _binary(value) for value in values]
        return TCLI.TColumn(binaryVal=TCLI.TBinaryColumn(values=data, nulls=nulls))
    spec = _spec(column.type)
    if spec is None:
        return TCLI.TColumn(
            stringVal=TCLI.TStringColumn(values=_string_values(values, column.type), nulls=nulls)
        )
    field, column_class, placeholder, convert = spec
    return TCLI.TColumn(
        **{field: column_class(values=_typed_values(values, placeholder, convert), nulls=nulls)}
    )


def _value(value: Any, column: ColumnSpec) -> Any:
    spec = _spec(column.type)
    if spec is None:
        text = None if value is None else to_text(value, column.type)
        return TCLI.TColumnValue(stringVal=TCLI.TStringValue(value=text))
    field, _, _, convert = spec
    holder = {
        "boolVal": TCLI.TBoolValue,
        "byteVal": TCLI.TByteValue,
        "i16Val": TCLI.TI16Value,
        "i32Val": TCLI.TI32Value,
        "i64Val": TCLI.TI64Value,
        "doubleVal": TCLI.TDoubleValue,
    }[field]
    return TCLI.TColumnValue(**{field: holder(value=None if value is None else convert(value))})


def _schema_for(batch: RowBatch, schema: TableSchema | None) -> TableSchema:
    if batch.schema is not None:
        return batch.schema
    if schema is not None:
        return schema
    return TableSchema(tuple(ColumnSpec(f"col{i + 1}") for i in range(len(batch.columns))))


def to_rowset(batch: RowBatch, protocol: int, schema: TableSchema | None = None) -> ThriftStruct:
    """Encode ``batch`` for a client speaking ``protocol`` (a TProtocolVersion value)."""
    columns_spec = _schema_for(batch, schema).columns
    width = min(len(columns_spec), len(batch.columns))
    if protocol >= COLUMNAR_MIN_PROTOCOL:
        columns = [to_column(batch.columns[i], columns_spec[i]) for i in range(width)]
        return TCLI.TRowSet(startRowOffset=int(batch.start_offset), rows=[], columns=columns)
    rows = []
    for r in range(batch.row_count):
        rows.append(TCLI.TRow(colVals=[_value(batch.columns[i][r], columns_spec[i]) for i in range(width)]))
    return TCLI.TRowSet(startRowOffset=int(batch.start_offset), rows=rows)
