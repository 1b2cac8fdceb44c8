"""Context compaction: keep the prompt under ``compaction.trigger.tokens``.

Trigger: the real total tokens of the previous LLM call plus an estimate (chars / 4) of what was
appended after the last assistant message. When it reaches the trigger:

1. Across turns: the oldest turns are summarised by the LLM into one message and the most recent
   turns are kept verbatim (4, or fewer when the kept tail alone would still be too large). The
   split never separates an assistant tool call from its results. If the summary call fails, the
   old turns are truncated instead (a short note keeps the user's earlier questions).
2. Within one long turn (Kyuubi cannot): old tool results in the kept tail are offloaded to the
   session's directory and replaced by a short head preview, so a single question that ran many
   large queries still fits.

Either way one :class:`CompactionEvent` is returned for the run to emit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.agent.events import CompactionEvent
from engine.agent.memory import ConversationMemory, Message
from engine.common.cancel import CancelToken
from engine.common.errors import OperationCanceledError, OperationTimeoutError

log = logging.getLogger(__name__)

KEEP_RECENT_TURNS = 4
KEPT_SHARE = 0.5  # the kept tail should use at most this share of the trigger
KEEP_LAST_TOOL_RESULTS = 2  # the newest tool results are never shrunk
SHRINK_MIN_CHARS = 800
PREVIEW_CHARS = 400
SUMMARY_PREFIX = "[Summary of the earlier conversation, written automatically to save context]\n\n"

Summarizer = Callable[[list[Message], CancelToken], str]


def message_chars(message: Message) -> int:
    size = len(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        size += len(function.get("name") or "") + len(function.get("arguments") or "")
    return size


def estimate_tokens(messages: list[Message]) -> int:
    return sum(message_chars(message) + 16 for message in messages) // 4


def estimate_tail(messages: list[Message]) -> int:
    """Estimated tokens of the messages after the last assistant message."""
    last = max((i for i, message in enumerate(messages) if message.get("role") == "assistant"), default=-1)
    return estimate_tokens(messages[last + 1 :])


def predicted_prompt_tokens(memory: ConversationMemory, messages: list[Message]) -> int:
    if memory.last_total_tokens <= 0:
        return estimate_tokens(messages)
    return memory.last_total_tokens + estimate_tail(messages)


@dataclass(frozen=True)
class Split:
    old: list[Message]
    kept: list[Message]


def compute_split(history: list[Message], keep_turns: int) -> Split:
    """Keep the last ``keep_turns`` user turns; never split a tool call from its results."""
    user_indexes = [i for i, message in enumerate(history) if message.get("role") == "user"]
    if len(user_indexes) < keep_turns or keep_turns <= 0:
        return Split([], list(history))
    cut = user_indexes[-keep_turns]
    while cut > 0:
        previous = history[cut - 1]
        if previous.get("role") == "tool" or (
            previous.get("role") == "assistant" and previous.get("tool_calls")
        ):
            cut -= 1
            continue
        break
    return Split(list(history[:cut]), list(history[cut:]))


def render_transcript(messages: list[Message]) -> str:
    """Old messages as tagged text, so the summariser does not continue them as live state."""
    parts = []
    for message in messages:
        role = message.get("role")
        content = message.get("content") or ""
        if role == "user":
            parts.append(f"USER: {content}")
        elif role == "assistant":
            lines = [f"ASSISTANT: {content}"]
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                lines.append(
                    f"[tool call {call.get('id')}: {function.get('name')}({function.get('arguments')})]"
                )
            parts.append("\n".join(lines))
        elif role == "tool":
            parts.append(f"[tool result {message.get('tool_call_id')}]: {content}")
        else:
            parts.append(f"{str(role).upper()}: {content}")
    return "\n\n".join(parts)


def truncation_note(old: list[Message]) -> str:
    questions = [str(m.get("content") or "")[:300] for m in old if m.get("role") == "user"]
    listed = "\n".join(f"- {question}" for question in questions[-10:])
    return (
        f"[{len(old)} earlier messages were removed to fit the context window; no summary is "
        "available. The user's earlier questions were:]\n" + (listed or "- (none)")
    )


class Compactor:
    def __init__(self, summarize: Summarizer, workdir: Path | None = None) -> None:
        self._summarize = summarize
        self._workdir = workdir

    def maybe_compact(
        self,
        memory: ConversationMemory,
        system_prompt: str,
        trigger_tokens: int,
        cancel: CancelToken,
        workdir: Path | None = None,
    ) -> CompactionEvent | None:
        observed = predicted_prompt_tokens(memory, memory.build(system_prompt))
        if observed < trigger_tokens:
            return None
        history = list(memory.messages)
        budget = int(trigger_tokens * KEPT_SHARE)
        split = Split([], history)
        for keep in range(KEEP_RECENT_TURNS, 0, -1):
            candidate = compute_split(history, keep)
            if candidate.old:
                split = candidate
                if estimate_tokens(candidate.kept) <= budget:
                    break
        summarized = len(split.old)
        compacted: list[Message] = []
        if split.old:
            compacted.append({"role": "user", "content": self._summary_text(split.old, cancel)})
        kept, shrunk = self._shrink_tool_results(split.kept, budget, workdir or self._workdir)
        compacted.extend(kept)
        if not summarized and not shrunk:
            log.info(
                "compaction found nothing to compact (observed %d >= trigger %d tokens)",
                observed,
                trigger_tokens,
            )
            return None
        memory.replace_history(compacted)
        log.info(
            "compacted the conversation: %d messages summarised, %d tool results offloaded, %d kept "
            "(observed ~%d tokens, trigger %d)",
            summarized,
            shrunk,
            len(kept),
            observed,
            trigger_tokens,
        )
        return CompactionEvent(
            summarized=summarized + shrunk,
            kept=len(kept),
            trigger_tokens=trigger_tokens,
            observed_tokens=observed,
        )

    def _summary_text(self, old: list[Message], cancel: CancelToken) -> str:
        try:
            summary = self._summarize(old, cancel)
            if summary.strip():
                return SUMMARY_PREFIX + summary.strip()
            log.warning("the compaction summary was empty; truncating instead")
        except (OperationCanceledError, OperationTimeoutError):
            raise
        except Exception as exc:  # any summariser failure falls back to truncation
            log.warning("the compaction summary failed (%s); truncating instead", exc)
        return truncation_note(old)

    def _shrink_tool_results(
        self, messages: list[Message], budget: int, workdir: Path | None
    ) -> tuple[list[Message], int]:
        """Offload the oldest large tool results until the messages fit ``budget`` tokens."""
        result = [dict(message) for message in messages]
        tool_indexes = [i for i, message in enumerate(result) if message.get("role") == "tool"]
        candidates = (
            tool_indexes[:-KEEP_LAST_TOOL_RESULTS] if len(tool_indexes) > KEEP_LAST_TOOL_RESULTS else []
        )
        shrunk = 0
        for index in candidates:
            if estimate_tokens(result) <= budget:
                break
            message = result[index]
            content = str(message.get("content") or "")
            if len(content) < SHRINK_MIN_CHARS or content.startswith("[compacted"):
                continue
            where = self._offload(str(message.get("tool_call_id")), content, workdir)
            preview = content[:PREVIEW_CHARS].rstrip()
            message["content"] = (
                f"[compacted: this tool output ({len(content)} characters) was removed from the context"
                f"{' and saved to ' + where if where else ''}. Its beginning was:]\n{preview}\n[...]"
            )
            shrunk += 1
        return result, shrunk

    def _offload(self, tool_call_id: str, content: str, workdir: Path | None) -> str:
        if workdir is None:
            return ""
        try:
            directory = workdir / "compacted"
            directory.mkdir(parents=True, exist_ok=True)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tool_call_id)[:80] or "output"
            path = directory / f"{safe}.txt"
            path.write_text(content, encoding="utf-8")
            return str(path)
        except OSError:
            log.warning("cannot offload a compacted tool output", exc_info=True)
            return ""


def summary_request(old: list[Message], agent_system_prompt: str, instructions: str) -> list[dict[str, Any]]:
    """The messages of the summary call."""
    system = instructions
    if agent_system_prompt:
        system += "\n\n---\nFor context, the agent's own instructions are:\n" + agent_system_prompt
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": render_transcript(old)},
    ]
