"""The table sink's typing rules on their own: declared types hold for every value or widen."""

from __future__ import annotations

import decimal

from engine.common.statement import BiWrapper
from engine.common.types import ColumnSpec, HiveType, TableSchema
from engine.operation.fetch_buffer import IncrementalFetchBuffer
from engine.operation.parser import ParseOptions, parse_statement
from engine.operation.passthrough import wrapper_transform
from engine.operation.table_stream import emit_table, normalize_table


def _types(schema: TableSchema) -> list[HiveType]:
    return [column.type for column in schema.columns]


def test_declared_types_that_hold_are_kept() -> None:
    columns = (
        ColumnSpec("a", HiveType.INT),
        ColumnSpec("b", HiveType.DOUBLE),
        ColumnSpec("c", HiveType.BOOLEAN),
    )
    schema, rows = normalize_table(columns, [(1, 2.5, True), (None, None, None), [3, 4, False]])
    assert _types(schema) == [HiveType.INT, HiveType.DOUBLE, HiveType.BOOLEAN]
    assert rows == [(1, 2.5, True), (None, None, None), (3, 4, False)]


def test_dynamic_values_widen_instead_of_failing_to_encode() -> None:
    columns = (
        ColumnSpec("big", HiveType.INT),
        ColumnSpec("mixed", HiveType.INT),
        ColumnSpec("text", HiveType.BIGINT),
        ColumnSpec("flag", HiveType.BOOLEAN),
        ColumnSpec("num", HiveType.DOUBLE),
    )
    schema, rows = normalize_table(
        columns,
        [(2**40, 1, "x", "yes", 1.5), (1, decimal.Decimal("2.5"), 3, True, "n/a")],
    )
    assert _types(schema) == [
        HiveType.BIGINT,
        HiveType.DOUBLE,
        HiveType.STRING,
        HiveType.STRING,
        HiveType.STRING,
    ]
    assert rows[0][1] == 1.0 and isinstance(rows[1][1], float)


def test_wrapper_transforms() -> None:
    parsed = parse_statement("SELECT b, A FROM (q) AS virtual_table LIMIT 1", ParseOptions())
    assert isinstance(parsed, BiWrapper) and parsed.inner == "q"
    transform = wrapper_transform(parsed)
    schema = TableSchema.of(ColumnSpec("a", HiveType.INT), ColumnSpec("b", HiveType.STRING))
    out_schema, out_rows = transform(schema, [(1, "x"), (2, "y")])
    assert [c.name for c in out_schema.columns] == ["b", "a"] and out_rows == [("x", 1)]
    counted = parse_statement("select count(1) from ( a (nested) question ) t;", ParseOptions())
    assert isinstance(counted, BiWrapper) and counted.inner == "a (nested) question"
    assert wrapper_transform(counted)(schema, [(1, "x")] * 7)[1] == [(7,)]
    assert not isinstance(parse_statement("SELECT a FROM (q) t WHERE a > 1", ParseOptions()), BiWrapper)


def test_emit_table_publishes_the_schema_before_rows() -> None:
    buffer = IncrementalFetchBuffer()
    seen: list[tuple[TableSchema, int]] = []
    emit_table(
        (ColumnSpec("a", HiveType.INT),), [(1,), (2,)], buffer, lambda s: seen.append((s, buffer.size))
    )
    assert seen and seen[0][1] == 0 and buffer.size == 2
