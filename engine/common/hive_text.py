"""The Hive text form of database values, as they travel in string-encoded result columns.

HiveServer2 sends TIMESTAMP, DATE, DECIMAL and every non-primitive value as text, and clients parse
it: hive-jdbc with ``java.sql.Timestamp.valueOf`` (``yyyy-mm-dd hh:mm:ss[.fffffffff]``, no offset),
``java.sql.Date.valueOf`` and ``new BigDecimal``; PyHive with ``strptime`` and ``Decimal``. So a
timestamp with a time zone goes out in UTC without its offset, a decimal in plain notation, and
structured values (arrays, JSON documents) as compact JSON. Stdlib only.
"""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

_UTC = datetime.UTC


def utc_naive(value: datetime.datetime) -> datetime.datetime:
    """A timestamp with a time zone as the same instant in UTC, without the zone; a naive one as is."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    try:
        return value.astimezone(_UTC).replace(tzinfo=None)
    except OverflowError:  # within a day of year 1 or 9999 ('-infinity'/'infinity' in PostgreSQL)
        return datetime.datetime.min if value.year < 5000 else datetime.datetime.max


def timestamp_text(value: datetime.datetime) -> str:
    """``yyyy-mm-dd hh:mm:ss[.ffffff]`` in UTC for a zoned value."""
    return utc_naive(value).isoformat(sep=" ")


def date_text(value: datetime.date) -> str:
    if isinstance(value, datetime.datetime):
        value = utc_naive(value).date()
    return value.isoformat()


def decimal_text(value: decimal.Decimal) -> str:
    """Plain notation (``0.000000001``, ``100000``), never an exponent; NaN/Infinity as Python
    spells them (a DECIMAL column never holds those: the typing makes such a column DOUBLE)."""
    if not value.is_finite():
        return str(value)
    return format(value, "f")


def interval_text(value: datetime.timedelta) -> str:
    """A duration the way PostgreSQL writes an interval: ``[-]N day(s) hh:mm:ss[.ffffff]``, each
    part only when there is one (``1 day 02:03:04.5``, ``-03:00:00``, ``2 days``)."""
    sign = "-" if value < datetime.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if value.microseconds:
        clock += f".{value.microseconds:06d}".rstrip("0")
    if not value.days:
        return sign + clock
    days = f"{sign}{value.days} day{'s' if value.days != 1 else ''}"
    return days if clock == "00:00:00" else f"{days} {clock}"


def clock_text(value: datetime.timedelta) -> str:
    """A duration the way MySQL writes a TIME: ``[-]hh:mm:ss[.ffffff]``, hours past 24 included."""
    sign = "-" if value < datetime.timedelta(0) else ""
    value = abs(value)
    total = value.days * 86400 + value.seconds
    text = f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"
    if value.microseconds:
        text += f".{value.microseconds:06d}"
    return text


def binary_text(value: bytes | bytearray | memoryview) -> str:
    """Bytes inside text: UTF-8 when they are, else PostgreSQL's hex form ``\\xdeadbeef``."""
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "\\x" + raw.hex()


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (str, int, float)) or value is None:  # bool is an int
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    return value_text(value)


def json_text(value: Any) -> str:
    """Compact JSON (Hive's text form of arrays, maps and structs), numbers as numbers."""
    return json.dumps(_json_ready(value), ensure_ascii=False, separators=(",", ":"))


def value_text(value: Any) -> str:
    """The text of any value in a STRING column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return timestamp_text(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return interval_text(value)
    if isinstance(value, decimal.Decimal):
        return decimal_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return binary_text(value)
    if isinstance(value, (dict, list, tuple)):
        return json_text(value)
    return str(value)
