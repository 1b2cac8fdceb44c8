"""The JSON shapes of runs, conversations and sessions (documented in :mod:`engine.rest.openapi`).
Times are ISO-8601 UTC; field names are camelCase, as Kyuubi's REST API has them."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.backend import SessionInfo
from engine.common.record import ConversationRecord, RunRecord


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_view(run: RunRecord) -> dict[str, object]:
    return {
        "runId": run.id,
        "conversationId": run.conversation_id,
        "user": run.owner,
        "question": run.question,
        "status": run.status.value,
        "started": _time(run.started),
        "ended": _time(run.ended),
        "error": run.error,
        "steps": run.steps,
        "promptTokens": run.prompt_tokens,
        "completionTokens": run.completion_tokens,
        "model": run.model,
        "incomplete": run.incomplete,
        "lastSeq": run.last_seq,
    }


def conversation_view(conversation: ConversationRecord) -> dict[str, object]:
    return {
        "conversationId": conversation.id,
        "user": conversation.owner,
        "title": conversation.title,
        "created": _time(conversation.created),
        "updated": _time(conversation.updated),
        "runCount": conversation.runs,
    }


def session_view(info: SessionInfo) -> dict[str, object]:
    return {
        "identifier": info.handle.id,
        "user": info.user,
        "ipAddr": info.ip,
        "createTime": int(info.created * 1000),
        "conversationId": info.conversation_id,
        "conf": dict(info.configuration),
    }
