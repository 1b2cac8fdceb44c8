"""Rows of the store's tables turned into the plain records of :mod:`engine.common.record`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy.engine import Row

from engine.common.record import (
    ApprovalRecord,
    ApprovalStatus,
    ConversationRecord,
    EventRecord,
    JsonObject,
    MemoryRecord,
    RunRecord,
    RunStatus,
)


def dump_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


R = TypeVar("R")


def _record(kind: type[R], row: Row[Any], **converted: object) -> R:
    """``kind`` built from the row's columns of the same names; ``converted`` wins over them."""
    columns = row._mapping
    names = [field.name for field in fields(kind)]  # type: ignore[arg-type]
    values = {name: columns[name] for name in names if name in columns and name not in converted}
    return kind(**values, **converted)


def conversation(row: Row[Any], runs: int = 0) -> ConversationRecord:
    return _record(ConversationRecord, row, settings=_object(row.settings), runs=runs)


def run(row: Row[Any], last_seq: int | None = None) -> RunRecord:
    return _record(
        RunRecord, row, status=RunStatus(row.status), incomplete=bool(row.incomplete), last_seq=last_seq or 0
    )


def event(row: Row[Any]) -> EventRecord:
    return _record(EventRecord, row)


def approval(row: Row[Any]) -> ApprovalRecord:
    return _record(ApprovalRecord, row, status=ApprovalStatus(row.status))


def memory_text(memory: MemoryRecord) -> str:
    return dump_json(
        {"messages": [dict(message) for message in memory.messages], "counters": dict(memory.counters)}
    )


def memory(text: str | None) -> MemoryRecord | None:
    if text is None:
        return None
    value = _object(text)
    messages = value.get("messages")
    counters = value.get("counters")
    return MemoryRecord(
        messages=tuple(message for message in messages if isinstance(message, dict))
        if isinstance(messages, list)
        else (),
        counters={str(key): int(count) for key, count in counters.items() if isinstance(count, int)}
        if isinstance(counters, Mapping)
        else {},
    )


def settings_text(settings: JsonObject | None) -> str:
    return dump_json(dict(settings or {}))
