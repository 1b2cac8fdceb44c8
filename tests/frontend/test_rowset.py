"""RowBatch -> TRowSet and TableSchema -> TTableSchema, checked by decoding the encoded bytes."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from thriftpy2.protocol.cybin import TCyBinaryProtocol
from thriftpy2.transport import TCyMemoryBuffer

from engine.common.errors import InvalidHandleError, UnsupportedError
from engine.common.types import ColumnSpec, HiveType, RowBatch, TableSchema
from engine.frontend import convert, rowset
from engine.frontend.idl import TCLI
from engine.operation.operation import OperationStatus
from engine.operation.state import OperationState


def _roundtrip(struct: Any) -> Any:
    out = TCyMemoryBuffer()
    TCyBinaryProtocol(out).write_struct(struct)
    decoded = type(struct)()
    TCyBinaryProtocol(TCyMemoryBuffer(out.getvalue())).read_struct(decoded)
    return decoded


def _nulls(bitmap: bytes, count: int) -> list[bool]:
    return [bool(bitmap[i // 8] & (1 << (i % 8))) if i // 8 < len(bitmap) else False for i in range(count)]


@given(st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=40))
def test_string_column_nulls_roundtrip(values: list[str | None]) -> None:
    batch = RowBatch([values], 7, schema=TableSchema.of(ColumnSpec("s")))
    decoded = _roundtrip(rowset.to_rowset(batch, 5))
    column = decoded.columns[0].stringVal
    assert decoded.startRowOffset == 7 and decoded.rows == []
    assert _nulls(column.nulls, len(values)) == [value is None for value in values]
    assert [
        None if null else value
        for null, value in zip(_nulls(column.nulls, len(values)), column.values, strict=True)
    ] == values


def test_plain_strings_pass_through_untouched() -> None:
    values = [str(i) for i in range(1000)]
    column = rowset.to_column(values, ColumnSpec("s"))
    assert column.stringVal.values is values  # the fast path copies nothing
    assert column.stringVal.nulls == b"\x00"  # as short as HiveServer2's: clients walk every bit


def test_null_bitmap_ends_at_the_last_null() -> None:
    assert rowset.null_bitmap([]) == b"\x00"
    assert rowset.null_bitmap(["a"] * 20) == b"\x00"
    assert rowset.null_bitmap([None, "a", "b"]) == b"\x01"
    assert rowset.null_bitmap(["a"] * 9 + [None] + ["b"] * 30) == b"\x00\x02"


def test_typed_columns() -> None:
    schema = TableSchema.of(
        ColumnSpec("b", HiveType.BOOLEAN),
        ColumnSpec("t", HiveType.TINYINT),
        ColumnSpec("s", HiveType.SMALLINT),
        ColumnSpec("i", HiveType.INT),
        ColumnSpec("l", HiveType.BIGINT),
        ColumnSpec("d", HiveType.DOUBLE),
        ColumnSpec("dec", HiveType.DECIMAL, precision=10, scale=2),
        ColumnSpec("ts", HiveType.TIMESTAMP),
        ColumnSpec("bin", HiveType.BINARY),
        ColumnSpec("date", HiveType.DATE),
    )
    rows = [
        (
            True,
            1,
            2,
            3,
            2**40,
            1.5,
            decimal.Decimal("1.25"),
            datetime.datetime(2024, 1, 2, 3, 4, 5),
            b"\x00\x01",
            datetime.date(2024, 1, 2),
        ),
        (None,) * 10,
    ]
    batch = RowBatch.from_rows(rows, 10)
    batch.schema = schema
    decoded = _roundtrip(rowset.to_rowset(batch, 9))
    cols = decoded.columns
    assert cols[0].boolVal.values == [True, False] and _nulls(cols[0].boolVal.nulls, 2) == [False, True]
    assert cols[1].byteVal.values[0] == 1 and cols[2].i16Val.values[0] == 2 and cols[3].i32Val.values[0] == 3
    assert cols[4].i64Val.values[0] == 2**40 and cols[5].doubleVal.values[0] == 1.5
    assert cols[6].stringVal.values[0] == "1.25"
    assert cols[7].stringVal.values[0] == "2024-01-02 03:04:05"
    assert cols[8].binaryVal.values[0] == b"\x00\x01"
    assert cols[9].stringVal.values[0] == "2024-01-02"
    assert all(
        _nulls(getattr(col, next(k for k, v in col.__dict__.items() if v is not None)).nulls, 2)[1]
        for col in cols
    )


def test_row_based_below_v6() -> None:
    schema = TableSchema.of(ColumnSpec("s"), ColumnSpec("n", HiveType.BIGINT))
    batch = RowBatch.from_rows([("a", 1), (None, None)], 2)
    batch.schema = schema
    decoded = _roundtrip(rowset.to_rowset(batch, 4))
    assert decoded.columns is None and len(decoded.rows) == 2
    assert decoded.rows[0].colVals[0].stringVal.value == "a" and decoded.rows[0].colVals[1].i64Val.value == 1
    assert (
        decoded.rows[1].colVals[0].stringVal.value is None and decoded.rows[1].colVals[1].i64Val.value is None
    )


def test_schema_qualifiers() -> None:
    schema = TableSchema.of(
        ColumnSpec("amount", HiveType.DECIMAL, "money", precision=12, scale=3),
        ColumnSpec("code", HiveType.VARCHAR, max_length=20),
        ColumnSpec("flag", HiveType.CHAR, max_length=1),
        ColumnSpec("reply"),
    )
    decoded = _roundtrip(convert.to_table_schema(schema))
    amount, code, flag, reply = decoded.columns
    assert [c.position for c in decoded.columns] == [1, 2, 3, 4]
    entry = amount.typeDesc.types[0].primitiveEntry
    assert entry.type == TCLI.TTypeId.DECIMAL_TYPE and amount.comment == "money"
    assert entry.typeQualifiers.qualifiers["precision"].i32Value == 12
    assert entry.typeQualifiers.qualifiers["scale"].i32Value == 3
    assert (
        code.typeDesc.types[0].primitiveEntry.typeQualifiers.qualifiers["characterMaximumLength"].i32Value
        == 20
    )
    assert flag.typeDesc.types[0].primitiveEntry.type == TCLI.TTypeId.CHAR_TYPE
    assert reply.typeDesc.types[0].primitiveEntry.typeQualifiers is None


@pytest.mark.parametrize(
    ("error", "sqlstate", "code", "message"),
    [
        (UnsupportedError("nope"), "0A000", 10005, "nope"),
        (InvalidHandleError("bad handle"), "HY000", 10002, "bad handle"),
        (RuntimeError("secret internals"), "HY000", 10000, convert.GENERIC_ERROR),
    ],
)
def test_error_status_mapping(error: Exception, sqlstate: str, code: int, message: str) -> None:
    status = convert.error_status(error)
    assert status.statusCode == TCLI.TStatusCode.ERROR_STATUS
    assert (status.sqlState, status.errorCode, status.errorMessage) == (sqlstate, code, message)


def test_operation_status_error_fields() -> None:
    status = OperationStatus(OperationState.ERROR, "08000", 10010, "datasource down", True, 5, 9)
    response = _roundtrip(convert.to_operation_status(status))
    assert response.operationState == TCLI.TOperationState.ERROR_STATE
    assert (response.sqlState, response.errorCode, response.errorMessage) == (
        "08000",
        10010,
        "datasource down",
    )
    assert (response.operationStarted, response.operationCompleted, response.hasResultSet) == (5, 9, True)
    assert response.progressUpdateResponse is None  # never sent: see convert.to_operation_status
    running = convert.to_operation_status(OperationStatus(OperationState.RUNNING))
    assert running.sqlState is None and running.progressUpdateResponse is None
