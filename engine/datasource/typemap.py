"""Result columns typed as Hive types, from the driver's ``cursor.description`` and the values.

PostgreSQL (psycopg2) and MySQL/MariaDB (PyMySQL) report a type code per column; SQLite and
unknown drivers do not, so the values decide (SQLite is dynamically typed: a column mixing
integers and reals is DOUBLE, anything mixed with text is STRING). Values of STRING columns that
are not text (UUIDs, intervals, JSON documents, arrays...) are rendered as text so that every
value matches its column's type.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Callable, Sequence
from typing import Any

from engine.common.types import ColumnSpec, HiveType

Converter = Callable[[Any], Any] | None

# psycopg2 type OIDs
_PG_TYPES = {
    16: HiveType.BOOLEAN,
    20: HiveType.BIGINT,
    21: HiveType.SMALLINT,
    23: HiveType.INT,
    26: HiveType.BIGINT,
    700: HiveType.FLOAT,
    701: HiveType.DOUBLE,
    1700: HiveType.DECIMAL,
    1082: HiveType.DATE,
    1114: HiveType.TIMESTAMP,
    1184: HiveType.TIMESTAMP,
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

_INT_RANGES = {
    HiveType.TINYINT: 2**7,
    HiveType.SMALLINT: 2**15,
    HiveType.INT: 2**31,
    HiveType.BIGINT: 2**63,
}


def type_columns(
    dialect: str, description: Sequence[Sequence[Any]] | None, rows: list[tuple[Any, ...]]
) -> tuple[tuple[ColumnSpec, ...], list[tuple[Any, ...]]]:
    """(columns, rows) with Hive types; rows are converted only where a value needs it."""
    if not description:
        return (), rows
    columns: list[ColumnSpec] = []
    converters: list[Converter] = []
    for index, entry in enumerate(description):
        name = str(entry[0])
        values = [row[index] for row in rows]
        declared = _declared(dialect, entry)
        if dialect == "mysql" and declared == HiveType.DECIMAL and len(entry) > 5:
            # PyMySQL gives the display length: digits + sign + decimal point
            length, scale = entry[4] or 0, entry[5] or 0
            entry = (*entry[:4], max(1, length - 1 - (1 if scale else 0)), scale, *entry[6:])
        spec, converter = _column(name, declared, entry, values)
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


def _declared(dialect: str, entry: Sequence[Any]) -> HiveType | None:
    code = entry[1] if len(entry) > 1 else None
    if not isinstance(code, int):
        return None
    if dialect == "postgresql":
        return _PG_TYPES.get(code)
    if dialect == "mysql":
        return _MYSQL_TYPES.get(code)
    return None


def _column(
    name: str, declared: HiveType | None, entry: Sequence[Any], values: list[Any]
) -> tuple[ColumnSpec, Converter]:
    kinds = {type(value) for value in values if value is not None}
    if declared is None:
        return _inferred(name, kinds, values)
    if declared == HiveType.DECIMAL:
        precision, scale = _decimal_shape(entry, values)
        if kinds <= {decimal.Decimal}:
            return ColumnSpec(name, HiveType.DECIMAL, precision=precision, scale=scale), None
        return _inferred(name, kinds, values)
    if declared in _INT_RANGES:
        if kinds <= {int}:
            bound = _INT_RANGES[declared]
            if all(-bound <= value < bound for value in values if value is not None):
                return ColumnSpec(name, declared), None
            return ColumnSpec(name, HiveType.DECIMAL, precision=38, scale=0), decimal.Decimal
        return _inferred(name, kinds, values)
    if declared == HiveType.STRING:
        return ColumnSpec(name, HiveType.STRING), None if kinds <= {str} else _text
    expected = _PYTHON_TYPES.get(declared)
    if expected is not None and all(issubclass(kind, expected) for kind in kinds):
        return ColumnSpec(name, declared), _to_bytes if declared == HiveType.BINARY and kinds - {
            bytes
        } else None
    return _inferred(name, kinds, values)


_PYTHON_TYPES: dict[HiveType, type | tuple[type, ...]] = {
    HiveType.BOOLEAN: bool,
    HiveType.FLOAT: float,
    HiveType.DOUBLE: float,
    HiveType.DATE: datetime.date,
    HiveType.TIMESTAMP: datetime.datetime,
    HiveType.BINARY: (bytes, bytearray, memoryview),
}


def _inferred(name: str, kinds: set[type], values: list[Any]) -> tuple[ColumnSpec, Converter]:
    if not kinds:
        return ColumnSpec(name, HiveType.STRING), None
    if kinds == {bool}:
        return ColumnSpec(name, HiveType.BOOLEAN), None
    if kinds == {int}:
        if all(-(2**63) <= value < 2**63 for value in values if value is not None):
            return ColumnSpec(name, HiveType.BIGINT), None
        return ColumnSpec(name, HiveType.DECIMAL, precision=38, scale=0), decimal.Decimal
    if kinds <= {int, float}:
        return ColumnSpec(name, HiveType.DOUBLE), None if kinds == {float} else float
    if kinds <= {int, decimal.Decimal}:
        precision, scale = _decimal_shape((), values)
        return ColumnSpec(name, HiveType.DECIMAL, precision=precision, scale=scale), (
            None if kinds == {decimal.Decimal} else decimal.Decimal
        )
    if kinds == {datetime.datetime}:
        return ColumnSpec(name, HiveType.TIMESTAMP), None
    if kinds == {datetime.date}:
        return ColumnSpec(name, HiveType.DATE), None
    if kinds <= {bytes, bytearray, memoryview}:
        return ColumnSpec(name, HiveType.BINARY), None if kinds == {bytes} else _to_bytes
    return ColumnSpec(name, HiveType.STRING), None if kinds == {str} else _text


def _decimal_shape(entry: Sequence[Any], values: list[Any]) -> tuple[int, int]:
    """DECIMAL(p, s): from the description when it gives them, else from the values."""
    precision = entry[4] if len(entry) > 5 else None
    scale = entry[5] if len(entry) > 5 else None
    if (
        isinstance(precision, int)
        and isinstance(scale, int)
        and 0 < precision <= 1000
        and 0 <= scale <= precision
    ):
        return min(precision, 38), min(scale, 38)
    observed_scale = 0
    observed_digits = 1
    for value in values:
        if isinstance(value, decimal.Decimal) and value.is_finite():
            _sign, digits, exponent = value.as_tuple()
            value_scale = max(0, -int(exponent))
            observed_scale = max(observed_scale, value_scale)
            observed_digits = max(observed_digits, len(digits) - value_scale)
    scale = min(observed_scale, 18)
    return 38, scale if observed_digits + scale <= 38 else max(0, 38 - observed_digits)


def _to_bytes(value: Any) -> bytes:
    return bytes(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
