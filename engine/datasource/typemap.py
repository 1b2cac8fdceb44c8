"""Result columns typed as Hive types, from the driver's ``cursor.description`` and the values.

PostgreSQL (psycopg2) and MySQL/MariaDB (PyMySQL) report a type code per column; SQLite and
unknown drivers do not, so the values decide (SQLite is dynamically typed: a column mixing
integers and reals is DOUBLE, anything mixed with text is STRING). Every value then holds for its
column's type, so that hive-jdbc, PyHive and pandas read a valid Hive value:

- integers take the narrowest Hive integer type at least as wide as the declared one that holds
  them (MySQL's unsigned ``INT`` is BIGINT when a value needs it); past BIGINT (an unsigned
  ``BIGINT``, MySQL's ``BIT(64)``) they are ``DECIMAL(20, 0)``;
- a ``numeric`` without precision is ``DECIMAL(38, s)`` with ``s`` what the values need (rounded
  when integer digits leave less room); NaN, Infinity or more than 38 integer digits make DOUBLE;
- ``timestamptz`` values become the same instant in UTC without the zone (hive-jdbc's
  ``Timestamp.valueOf`` rejects an offset);
- MySQL's ``BIT(1)`` is BOOLEAN and ``BIT(n)`` an integer;
- types Hive lacks (``time``, ``interval``, ``uuid``, ``json``/``jsonb``, arrays, ``money``,
  ``enum``, ``inet``, ranges...) are STRING in their text form (``engine.common.hive_text``):
  intervals as PostgreSQL writes them, MySQL's ``TIME`` as ``hh:mm:ss``, arrays and JSON documents
  as compact JSON; ``bytea`` and BLOBs are BINARY.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable, Sequence
from typing import Any

from engine.common.hive_text import clock_text, utc_naive, value_text
from engine.common.types import ColumnSpec, HiveType

Converter = Callable[[Any], Any] | None

MAX_PRECISION = 38  # Hive's DECIMAL
UNSIGNED_BIGINT_PRECISION = 20  # digits of 2**64 - 1

# psycopg2 type OIDs
_PG_TYPES = {
    16: HiveType.BOOLEAN,
    20: HiveType.BIGINT,
    21: HiveType.SMALLINT,
    23: HiveType.INT,
    26: HiveType.BIGINT,  # oid
    700: HiveType.FLOAT,
    701: HiveType.DOUBLE,
    1700: HiveType.DECIMAL,
    1082: HiveType.DATE,
    1114: HiveType.TIMESTAMP,
    1184: HiveType.TIMESTAMP,  # timestamptz: in UTC, without the zone
    17: HiveType.BINARY,
    25: HiveType.STRING,
    1043: HiveType.STRING,
    1042: HiveType.STRING,
    19: HiveType.STRING,
}

# PyMySQL FIELD_TYPE codes
_MYSQL_TYPES = {
    0: HiveType.DECIMAL,
    246: HiveType.DECIMAL,
    1: HiveType.TINYINT,
    2: HiveType.SMALLINT,
    3: HiveType.INT,
    9: HiveType.INT,
    8: HiveType.BIGINT,
    13: HiveType.INT,  # YEAR
    4: HiveType.FLOAT,
    5: HiveType.DOUBLE,
    7: HiveType.TIMESTAMP,
    12: HiveType.TIMESTAMP,
    10: HiveType.DATE,
    14: HiveType.DATE,
}
_MYSQL_TIME = 11  # a duration (PyMySQL gives a timedelta), up to +-838:59:59
_MYSQL_BIT = 16  # PyMySQL gives the bits as big-endian bytes

_INTEGERS = (HiveType.TINYINT, HiveType.SMALLINT, HiveType.INT, HiveType.BIGINT)
_INT_RANGES = {
    HiveType.TINYINT: 2**7,
    HiveType.SMALLINT: 2**15,
    HiveType.INT: 2**31,
    HiveType.BIGINT: 2**63,
}
_ROUNDING = decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP)


def type_columns(
    dialect: str, description: Sequence[Sequence[Any]] | None, rows: list[tuple[Any, ...]]
) -> tuple[tuple[ColumnSpec, ...], list[tuple[Any, ...]]]:
    """(columns, rows) with Hive types; rows are converted only where a value needs it."""
    if not description:
        return (), rows
    columns: list[ColumnSpec] = []
    converters: list[Converter] = []
    for index, entry in enumerate(description):
        values = [row[index] for row in rows]
        spec, converter = _column(dialect, str(entry[0]), tuple(entry), values)
        columns.append(spec)
        converters.append(converter)
    if any(converter is not None for converter in converters):
        rows = [
            tuple(
                value if conv is None or value is None else conv(value)
                for value, conv in zip(row, converters, strict=True)
            )
            for row in rows
        ]
    return tuple(columns), rows


def _column(
    dialect: str, name: str, entry: tuple[Any, ...], values: list[Any]
) -> tuple[ColumnSpec, Converter]:
    kinds = {type(value) for value in values if value is not None}
    code = entry[1] if len(entry) > 1 and isinstance(entry[1], int) else None
    if dialect == "mysql":
        if code == _MYSQL_BIT and kinds <= {bytes}:
            return _bit_column(name, entry, values)
        if code == _MYSQL_TIME and kinds <= {datetime.timedelta}:
            return ColumnSpec(name, HiveType.STRING), clock_text
    declared = _declared(dialect, code)
    if declared is None:
        return _inferred(name, kinds, values)
    if declared == HiveType.DECIMAL and kinds <= {decimal.Decimal}:
        if dialect == "mysql" and len(entry) > 5:
            # PyMySQL gives the display length: digits + sign + decimal point
            length, scale = entry[4] or 0, entry[5] or 0
            entry = (*entry[:4], max(1, length - 1 - (1 if scale else 0)), scale, *entry[6:])
        return _decimal_column(name, entry, values)
    if declared in _INT_RANGES and kinds <= {int}:
        return _integer_column(name, declared, values)
    if declared == HiveType.STRING:
        return ColumnSpec(name, HiveType.STRING), None if kinds <= {str} else value_text
    if declared == HiveType.TIMESTAMP and kinds <= {datetime.datetime}:
        return _timestamp_column(name, values)
    expected = _PYTHON_TYPES.get(declared)
    if expected is not None and all(issubclass(kind, expected) for kind in kinds):
        if declared == HiveType.BINARY and kinds - {bytes}:
            return ColumnSpec(name, declared), _to_bytes
        return ColumnSpec(name, declared), None
    return _inferred(name, kinds, values)


def _declared(dialect: str, code: int | None) -> HiveType | None:
    if code is None:
        return None
    if dialect == "postgresql":
        return _PG_TYPES.get(code)
    if dialect == "mysql":
        return _MYSQL_TYPES.get(code)
    return None


_PYTHON_TYPES: dict[HiveType, type | tuple[type, ...]] = {
    HiveType.BOOLEAN: bool,
    HiveType.FLOAT: float,
    HiveType.DOUBLE: float,
    HiveType.DATE: datetime.date,
    HiveType.BINARY: (bytes, bytearray, memoryview),
}


def _inferred(name: str, kinds: set[type], values: list[Any]) -> tuple[ColumnSpec, Converter]:
    if not kinds:
        return ColumnSpec(name, HiveType.STRING), None
    if kinds == {bool}:
        return ColumnSpec(name, HiveType.BOOLEAN), None
    if kinds == {int}:
        return _integer_column(name, HiveType.BIGINT, values)
    if kinds <= {int, float}:
        return ColumnSpec(name, HiveType.DOUBLE), None if kinds == {float} else float
    if kinds == {decimal.Decimal}:
        return _decimal_column(name, (), values)
    if kinds <= {int, decimal.Decimal}:
        spec, converter = _decimal_column(
            name, (), [None if v is None else decimal.Decimal(v) for v in values]
        )
        return spec, _then(decimal.Decimal, converter)
    if kinds <= {int, float, decimal.Decimal}:
        return ColumnSpec(name, HiveType.DOUBLE), float
    if kinds == {datetime.datetime}:
        return _timestamp_column(name, values)
    if kinds == {datetime.date}:
        return ColumnSpec(name, HiveType.DATE), None
    if kinds <= {bytes, bytearray, memoryview}:
        return ColumnSpec(name, HiveType.BINARY), None if kinds == {bytes} else _to_bytes
    return ColumnSpec(name, HiveType.STRING), None if kinds == {str} else value_text


def _then(first: Callable[[Any], Any], second: Converter) -> Callable[[Any], Any]:
    if second is None:
        return first
    return lambda value: second(first(value))


def _integer_column(name: str, narrowest: HiveType, values: list[Any]) -> tuple[ColumnSpec, Converter]:
    """The narrowest integer type from ``narrowest`` up that holds every value, else a DECIMAL."""
    present = [value for value in values if value is not None]
    low, high = min(present, default=0), max(present, default=0)
    for kind in _INTEGERS[_INTEGERS.index(narrowest) :]:
        bound = _INT_RANGES[kind]
        if -bound <= low and high < bound:
            return ColumnSpec(name, kind), None
    digits = max(len(str(abs(low))), len(str(abs(high))))
    if digits <= MAX_PRECISION:
        precision = max(digits, UNSIGNED_BIGINT_PRECISION)
        return ColumnSpec(name, HiveType.DECIMAL, precision=precision, scale=0), decimal.Decimal
    return ColumnSpec(name, HiveType.DOUBLE), float


def _bit_column(name: str, entry: tuple[Any, ...], values: list[Any]) -> tuple[ColumnSpec, Converter]:
    """MySQL ``BIT(n)``: ``BIT(1)`` is a flag (BOOLEAN), wider ones a number."""
    width = entry[3] if len(entry) > 3 and isinstance(entry[3], int) else 64

    def number(value: bytes) -> int:
        return int.from_bytes(value, "big")

    if width == 1:
        return ColumnSpec(name, HiveType.BOOLEAN), lambda value: bool(number(value))
    # n unsigned bits: the narrowest type that holds 2**n - 1 (BIT(64) past BIGINT is a DECIMAL)
    narrowest = next((kind for kind in _INTEGERS if 2**width <= _INT_RANGES[kind]), HiveType.BIGINT)
    numbers = [None if value is None else number(value) for value in values]
    spec, converter = _integer_column(name, narrowest, numbers)
    return spec, _then(number, converter)


def _timestamp_column(name: str, values: list[Any]) -> tuple[ColumnSpec, Converter]:
    zoned = any(value is not None and value.tzinfo is not None for value in values)
    return ColumnSpec(name, HiveType.TIMESTAMP), utc_naive if zoned else None


def _decimal_column(name: str, entry: tuple[Any, ...], values: list[Any]) -> tuple[ColumnSpec, Converter]:
    """DECIMAL(p, s) from the description when it gives a shape Hive has (the database keeps the
    values within it), else from the values; DOUBLE when no DECIMAL(38, s) can hold them."""
    present: list[decimal.Decimal] = [value for value in values if value is not None]
    if not all(value.is_finite() for value in present):
        return ColumnSpec(name, HiveType.DOUBLE), float  # NaN, Infinity
    precision = entry[4] if len(entry) > 5 else None
    scale = entry[5] if len(entry) > 5 else None
    if (
        isinstance(precision, int)
        and isinstance(scale, int)
        and 0 < precision <= MAX_PRECISION
        and 0 <= scale <= precision
    ):
        return ColumnSpec(name, HiveType.DECIMAL, precision=precision, scale=scale), None
    integer_digits = max((max(value.adjusted() + 1, 0) for value in present), default=1)
    if integer_digits > MAX_PRECISION:
        return ColumnSpec(name, HiveType.DOUBLE), float
    wanted_scale = max((_scale(value) for value in present), default=0)
    scale = min(wanted_scale, MAX_PRECISION - integer_digits)
    spec = ColumnSpec(name, HiveType.DECIMAL, precision=MAX_PRECISION, scale=scale)
    if wanted_scale <= scale:
        return spec, None
    step = decimal.Decimal(1).scaleb(-scale)
    return spec, lambda value: value.quantize(step, context=_ROUNDING)


def _scale(value: decimal.Decimal) -> int:
    """Digits after the decimal point of a finite value (0 for ``1E+5``)."""
    exponent = value.as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def _to_bytes(value: Any) -> bytes:
    return bytes(value)


# --- streamed batches ------------------------------------------------------------------------------
class ColumnFitError(ValueError):
    """A value of a later batch that the column type decided from the first batch cannot hold."""


def fit_rows(
    columns: Sequence[ColumnSpec],
    batch_columns: Sequence[ColumnSpec],
    rows: list[tuple[Any, ...]],
    offset: int,
) -> list[tuple[Any, ...]]:
    """Make a later batch of a stream fit the column types already sent to the client (decided
    from the first batch): ``batch_columns`` are the types this batch alone would have had.

    Text always fits a STRING column, numbers a DOUBLE, integers a wider integer or a DECIMAL
    (rounded to its scale); anything else raises :class:`ColumnFitError` naming the row.
    """
    fixes = [
        (index, column)
        for index, (column, own) in enumerate(zip(columns, batch_columns, strict=True))
        if column != own
    ]
    if not fixes:
        return rows
    fitted = []
    for number, row in enumerate(rows, start=offset + 1):
        values = list(row)
        for index, column in fixes:
            value = values[index]
            if value is not None:
                try:
                    values[index] = _fit(value, column)
                except (ValueError, TypeError, ArithmeticError):
                    raise ColumnFitError(
                        f"row {number}: column {column.name} holds {value_text(value)[:40]!r}, which its "
                        f"type {column.type.name} (decided from the first rows) cannot hold; CAST the "
                        "column in the query"
                    ) from None
        fitted.append(tuple(values))
    return fitted


def _fit(value: Any, column: ColumnSpec) -> Any:
    kind = column.type
    if kind is HiveType.STRING:
        return value if type(value) is str else value_text(value)
    if kind in _INT_RANGES:
        if type(value) is int and -_INT_RANGES[kind] <= value < _INT_RANGES[kind]:
            return value
    elif kind in (HiveType.DOUBLE, HiveType.FLOAT):
        if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
            return float(value)
    elif kind is HiveType.DECIMAL:
        if isinstance(value, int | decimal.Decimal) and not isinstance(value, bool):
            step = decimal.Decimal(1).scaleb(-(column.scale or 0))
            fitted = decimal.Decimal(value).quantize(step, context=_ROUNDING)
            if len(fitted.as_tuple().digits) <= (column.precision or MAX_PRECISION):
                return fitted
    elif kind is HiveType.TIMESTAMP:
        if isinstance(value, datetime.datetime):
            return utc_naive(value) if value.tzinfo is not None else value
    elif kind is HiveType.BOOLEAN:
        if isinstance(value, bool | int):
            return bool(value)
    elif kind is HiveType.DATE:
        if isinstance(value, datetime.date):
            return value
    elif kind is HiveType.BINARY:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
    raise ValueError(kind)
