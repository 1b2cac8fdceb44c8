"""Rows of the store's tables turned into the plain records of :mod:`engine.common.record`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

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


def conversation(row: Row[Any], runs: int = 0) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        owner=row.owner,
        datasource=row.datasource,
        title=row.title,
        created=row.created,
        updated=row.updated,
        settings=_object(row.settings),
        runs=runs,
    )


def run(row: Row[Any], last_seq: int | None = None) -> RunRecord:
    return RunRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        owner=row.owner,
        question=row.question,
        status=RunStatus(row.status),
        started=row.started,
        ended=row.ended,
        error=row.error,
        steps=row.steps,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        model=row.model,
        incomplete=bool(row.incomplete),
        events_dropped=row.events_dropped,
        last_seq=last_seq or 0,
    )


def event(row: Row[Any]) -> EventRecord:
    return EventRecord(run_id=row.run_id, seq=row.seq, type=row.type, payload=row.payload, time=row.time)


def approval(row: Row[Any]) -> ApprovalRecord:
    return ApprovalRecord(
        request_id=row.request_id,
        run_id=row.run_id,
        tool=row.tool,
        arguments=row.arguments,
        risk=row.risk,
        status=ApprovalStatus(row.status),
        requested=row.requested,
        decided_by=row.decided_by,
        reason=row.reason,
        decided=row.decided,
    )


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
