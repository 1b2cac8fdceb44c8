"""Query results as Markdown tables for the model: NULL shown as ``NULL``, ``|`` escaped, line
breaks kept on one line, long cells shortened, and a visible note when the row cap cut the result."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Sequence

from engine.common.result import QueryResult
from engine.common.types import Row

NULL = "NULL"
MAX_CELL = 500  # characters of one cell shown to the model


def cell(value: object) -> str:
    """One value as Markdown table cell text."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        text = "0x" + raw[:64].hex() + ("..." if len(raw) > 64 else "")
    elif isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        text = value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    else:
        text = str(value)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + f"...({len(text)} chars)"
    if "|" in text or "\n" in text or "\r" in text:
        text = text.replace("|", "\\|").replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")
    return text


def markdown_table(names: Sequence[str], rows: Sequence[Row]) -> str:
    header = "| " + " | ".join(cell(name) for name in names) + " |"
    rule = "|" + "|".join("---" for _ in names) + "|"
    lines = [header, rule]
    lines.extend("| " + " | ".join(cell(value) for value in row) + " |" for row in rows)
    return "\n".join(lines)


def render_result(result: QueryResult, max_rows: int, elapsed: float | None = None) -> str:
    """A QueryResult as text for the model: the table, the row count and the truncation note."""
    names = [column.name for column in result.columns]
    rows = result.rows
    if not names:
        return "The statement returned no result set."
    if not rows:
        return f"The query returned no rows. Columns: {', '.join(names)}."
    parts = [markdown_table(names, rows)]
    count = len(rows)
    if result.truncated:
        parts.append(
            f"Note: the result was truncated to the first {count} rows (row cap {max_rows}, "
            "query.max.rows). Add a LIMIT, filter or aggregate to see the rest."
        )
    else:
        parts.append(f"({count} row{'s' if count != 1 else ''})")
    return "\n\n".join(parts)
