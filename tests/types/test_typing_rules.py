"""Table-driven checks of the typing rules (``engine.datasource.typemap``) and of the Hive text forms
(``engine.common.hive_text``) on values no database in the matrix produces easily: roundings,
widenings, zones at the edges of time, durations of every sign."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.common.hive_text import clock_text, interval_text, json_text, utc_naive, value_text
from engine.common.types import ColumnSpec, HiveType
from engine.datasource.typemap import type_columns
from engine.frontend import rowset

PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
MINUS5 = datetime.timezone(datetime.timedelta(hours=-5))


def _typed(
    dialect: str, code: int | None, values: list[Any], precision: int | None = None, scale: int | None = None
) -> tuple[ColumnSpec, list[Any]]:
    description = [("c", code, None, None, precision, scale, True)]
    (column,), rows = type_columns(dialect, description, [(value,) for value in values])
    return column, [row[0] for row in rows]


@pytest.mark.parametrize(
    ("dialect", "code", "values", "hive", "precision", "scale", "out"),
    [
        # numeric without precision: the scale the values need, rounded (half up) when the integer
        # digits leave less room; NaN/Infinity or > 38 integer digits: DOUBLE
        (
            "postgresql",
            1700,
            [Decimal("1.25"), Decimal("100")],
            HiveType.DECIMAL,
            38,
            2,
            [Decimal("1.25"), Decimal("100")],
        ),
        (
            "postgresql",
            1700,
            [Decimal("1" * 30 + ".123456789015")],
            HiveType.DECIMAL,
            38,
            8,
            [Decimal("1" * 30 + ".12345679")],
        ),
        ("postgresql", 1700, [Decimal("1E+5")], HiveType.DECIMAL, 38, 0, [Decimal("1E+5")]),
        (
            "postgresql",
            1700,
            [Decimal("Infinity"), Decimal("2")],
            HiveType.DOUBLE,
            None,
            None,
            [float("inf"), 2.0],
        ),
        ("postgresql", 1700, [Decimal("9" * 39)], HiveType.DOUBLE, None, None, [float("9" * 39)]),
        # integers widen from the declared type; past BIGINT a DECIMAL(20, 0)
        ("mysql", 1, [255], HiveType.SMALLINT, None, None, [255]),
        ("mysql", 3, [2**32 - 1], HiveType.BIGINT, None, None, [2**32 - 1]),
        ("mysql", 8, [2**64 - 1, 1], HiveType.DECIMAL, 20, 0, [Decimal(2**64 - 1), Decimal(1)]),
        ("sqlite", None, [2**70], HiveType.DECIMAL, 22, 0, [Decimal(2**70)]),
        ("sqlite", None, [1, Decimal("2.5")], HiveType.DECIMAL, 38, 1, [Decimal(1), Decimal("2.5")]),
        # timestamps with a zone: the instant in UTC, no zone; infinity stays at the edge
        (
            "postgresql",
            1184,
            [
                datetime.datetime(2024, 1, 1, 1, 30, tzinfo=PLUS2),
                datetime.datetime(9999, 12, 31, 23, 0, tzinfo=MINUS5),
            ],
            HiveType.TIMESTAMP,
            None,
            None,
            [datetime.datetime(2023, 12, 31, 23, 30), datetime.datetime.max],
        ),
        # durations: MySQL TIME as MySQL writes it, intervals as PostgreSQL does
        (
            "mysql",
            11,
            [datetime.timedelta(hours=-838, minutes=-59, seconds=-59)],
            HiveType.STRING,
            None,
            None,
            ["-838:59:59"],
        ),
        ("postgresql", 1186, [datetime.timedelta(days=2)], HiveType.STRING, None, None, ["2 days"]),
    ],
)
def test_typing_rules(
    dialect: str,
    code: int | None,
    values: list[Any],
    hive: HiveType,
    precision: int | None,
    scale: int | None,
    out: list[Any],
) -> None:
    column, got = _typed(dialect, code, values)
    assert (column.type, column.precision, column.scale) == (hive, precision, scale)
    assert got == out


def test_a_declared_decimal_shape_is_kept() -> None:
    column, _ = _typed("postgresql", 1700, [Decimal("1.5")], precision=10, scale=2)
    assert (column.type, column.precision, column.scale) == (HiveType.DECIMAL, 10, 2)


@pytest.mark.parametrize(
    ("bits", "values", "hive", "out"),
    [
        (1, [b"\x01", b"\x00"], HiveType.BOOLEAN, [True, False]),
        (10, [b"\x02\xaa", None], HiveType.SMALLINT, [682, None]),
        (64, [b"\x00" * 7 + b"\x01"], HiveType.BIGINT, [1]),
        (64, [b"\xff" * 8], HiveType.DECIMAL, [Decimal(2**64 - 1)]),
    ],
)
def test_mysql_bit_is_a_flag_or_a_number_as_wide_as_its_bits(
    bits: int, values: list[Any], hive: HiveType, out: list[Any]
) -> None:
    description = [("c", 16, None, bits, bits, 0, True)]
    (column,), rows = type_columns("mysql", description, [(value,) for value in values])
    assert column.type is hive and [row[0] for row in rows] == out


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime.timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=500000), "1 day 02:03:04.5"),
        (datetime.timedelta(hours=-3), "-03:00:00"),
        (datetime.timedelta(days=-2, microseconds=-1), "-2 days 00:00:00.000001"),
        (datetime.timedelta(0), "00:00:00"),
    ],
)
def test_interval_text(value: datetime.timedelta, text: str) -> None:
    assert interval_text(value) == text


def test_clock_text() -> None:
    assert clock_text(datetime.timedelta(hours=26, seconds=1, microseconds=5)) == "26:00:01.000005"
    assert clock_text(datetime.timedelta(seconds=-1)) == "-00:00:01"


def test_value_text_and_json() -> None:
    assert value_text(Decimal("1E-10")) == "0.0000000001" and value_text(Decimal("1E+3")) == "1000"
    assert value_text(datetime.datetime(2024, 1, 1, 12, tzinfo=PLUS2)) == "2024-01-01 10:00:00"
    assert value_text(b"\xff\x00") == "\\xff00" and value_text(b"ok") == "ok"
    assert value_text(True) == "true" and value_text(datetime.time(10, 11, 12)) == "10:11:12"
    document = {
        "n": [Decimal("1.5"), Decimal("2")],
        "at": datetime.date(2024, 1, 2),
        "b": memoryview(b"\x01"),
    }
    assert json_text(document) == '{"n":[1.5,2],"at":"2024-01-02","b":"\\\\x01"}'
    assert utc_naive(datetime.datetime(1, 1, 1, 1, tzinfo=PLUS2)) == datetime.datetime.min


def test_string_encoded_columns_carry_text_hive_jdbc_parses() -> None:
    """TIMESTAMP without an offset, DATE without a time, DECIMAL without an exponent."""
    zoned = datetime.datetime(2024, 1, 1, 1, 0, 0, 250000, tzinfo=PLUS2)
    timestamp = rowset.to_column([zoned, None], ColumnSpec("t", HiveType.TIMESTAMP)).stringVal
    assert timestamp.values == ["2023-12-31 23:00:00.250000", ""]
    date = rowset.to_column([datetime.datetime(2024, 1, 2, 3, 4)], ColumnSpec("d", HiveType.DATE)).stringVal
    assert date.values == ["2024-01-02"]
    number = rowset.to_column([Decimal("1.23E-7")], ColumnSpec("n", HiveType.DECIMAL, precision=38, scale=9))
    assert number.stringVal.values == ["0.000000123"]
