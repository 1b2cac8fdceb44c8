"""Per-session conversation memory in OpenAI chat message form.

The system prompt is kept apart from the history and rebuilt for every run (today's date, the
tools enabled for this statement). The history passes from one statement to the next; a run that
fails or is cancelled is repaired so that no assistant tool call is left without its result and no
tool result without its call (the API rejects both).

A conversation outlives its session through the run registry: :meth:`ConversationMemory.snapshot`
is what the engine saves at the end of every run and :meth:`ConversationMemory.restore` puts it
back, history and token counters alike, so that the next LLM call (and the compaction trigger,
which reads the last call's token count) is what it would have been had the session never closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.common.record import MemoryRecord

log = logging.getLogger(__name__)

Message = dict[str, Any]

INTERRUPTED_RESULT = "[no result: the run was interrupted before this tool call completed]"

# the token counters a snapshot keeps, by their attribute names
_COUNTERS = (
    "last_total_tokens",
    "cumulative_prompt_tokens",
    "cumulative_completion_tokens",
    "cumulative_total_tokens",
)


class ConversationMemory:
    """History of one session. A run holds :meth:`turn` for its whole duration; that one run at a
    time uses a session is the operation layer's guard (the session's run slot)."""

    def __init__(self, max_messages: int = 2000) -> None:
        self.max_messages = max_messages
        self.messages: list[Message] = []
        self.last_total_tokens = 0  # total tokens of the latest LLM call (0: unknown)
        self.cumulative_prompt_tokens = 0
        self.cumulative_completion_tokens = 0
        self.cumulative_total_tokens = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """One run's use of the history: repaired before it starts and on every exit, so that a
        failed or cancelled run leaves no call without its result."""
        self.repair()
        try:
            yield
        finally:
            self.repair()

    # --- appending -------------------------------------------------------------------------------

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})
        self._enforce_cap()

    def add_assistant(self, message: Message) -> None:
        self.messages.append(message)

    def add_tool_result(self, tool_call_id: str, content: str) -> None:
        self.messages.append({"role": "tool", "tool_call_id": tool_call_id, "content": content})

    def record_usage(self, prompt: int, completion: int, total: int) -> None:
        self.cumulative_prompt_tokens += prompt
        self.cumulative_completion_tokens += completion
        self.cumulative_total_tokens += total
        self.last_total_tokens = total

    def build(self, system_prompt: str | None) -> list[Message]:
        """The messages of the next LLM call: [system] + history."""
        head = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return head + list(self.messages)

    def replace_history(self, messages: list[Message]) -> None:
        """Install a compacted history; the last call's token count no longer describes it."""
        self.messages = list(messages)
        self.last_total_tokens = 0

    def clear(self) -> None:
        self.messages = []
        self.last_total_tokens = 0

    # --- persistence ------------------------------------------------------------------------------

    def snapshot(self) -> MemoryRecord:
        """The history (repaired: no call without its result) and the token counters, as plain
        JSON-shaped values the run registry keeps."""
        self.repair()
        return MemoryRecord(
            messages=tuple(dict(message) for message in self.messages),
            counters={name: int(getattr(self, name)) for name in _COUNTERS},
        )

    def restore(self, record: MemoryRecord) -> None:
        """Replace the history and counters with a snapshot (messages that are not chat messages
        are dropped; the cap and the call/result pairing are enforced again)."""
        self.messages = [dict(message) for message in record.messages if isinstance(message.get("role"), str)]
        for name in _COUNTERS:
            value = record.counters.get(name, 0)
            setattr(self, name, value if isinstance(value, int) and value >= 0 else 0)
        self.repair()
        self._enforce_cap()

    # --- invariants -------------------------------------------------------------------------------

    def repair(self) -> int:
        """Give every assistant tool call a result and drop results without a call.

        Returns the number of messages added or removed.
        """
        repaired: list[Message] = []
        changes = 0
        open_ids: list[str] = []  # calls of the latest assistant message still waiting for results

        def close_open() -> None:
            nonlocal changes
            for call_id in open_ids:
                repaired.append({"role": "tool", "tool_call_id": call_id, "content": INTERRUPTED_RESULT})
                changes += 1
            open_ids.clear()

        for message in self.messages:
            role = message.get("role")
            if role == "tool":
                call_id = message.get("tool_call_id")
                if call_id in open_ids:
                    open_ids.remove(call_id)
                    repaired.append(message)
                else:
                    changes += 1  # an orphaned result
                continue
            close_open()
            repaired.append(message)
            if role == "assistant":
                open_ids.extend(call["id"] for call in message.get("tool_calls") or ())
        close_open()
        if changes:
            log.info("repaired the conversation history (%d messages added or removed)", changes)
            self.messages = repaired
        return changes

    def _enforce_cap(self) -> None:
        """Drop the oldest whole turns (a user message and what followed) above the cap."""
        if len(self.messages) <= self.max_messages:
            return
        cut = len(self.messages) - self.max_messages
        # move the cut forward to the next user message so no call/result pair is split
        while cut < len(self.messages) - 1 and self.messages[cut].get("role") != "user":
            cut += 1
        dropped = self.messages[:cut]
        self.messages = self.messages[cut:]
        log.info("memory cap: dropped %d old messages", len(dropped))
