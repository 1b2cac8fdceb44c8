"""Conversations held by this engine's sessions: one memory and one run slot per conversation.

A session belongs to exactly one conversation: a new one (its id is answered in OpenSession's
response configuration and in every ``agent_start``), or the one its OpenSession configuration
names with ``kyuubi.engine.data.agent.conversation.id``. Sessions of the same conversation share
its agent memory and its run slot (one run at a time per conversation), so that a session opened
while a detached run of the conversation still goes on continues exactly where that run leaves
the conversation. A conversation that no session of this engine holds is read back from the run
registry: its owner and datasource are checked and its memory restored.

A new conversation is written to the registry at its first run, so sessions that never ask a
question leave no empty conversations behind.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

from engine.agent.memory import ConversationMemory
from engine.common.config import CONVERSATION_ID
from engine.common.errors import ConfigError, NotFoundError, PermissionDeniedError
from engine.operation.run_registry import RunRegistry

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Conversation:
    id: str
    owner: str
    memory: ConversationMemory
    stored: bool  # its row exists in the registry (or is queued)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # its run slot
    holders: int = 0  # sessions (open or detached) using it


class ConversationTable:
    """Every conversation a session of this engine holds, behind one lock."""

    def __init__(self, registry: RunRegistry | None, datasource: str, max_messages: int) -> None:
        self.registry = registry
        self.datasource = datasource  # the datasource fingerprint of this engine
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._held: dict[str, Conversation] = {}

    def open(self, user: str, conversation_id: str | None) -> Conversation:
        """The conversation a new session of ``user`` joins: a new one, one another session holds,
        or one read back from the registry. Raises NotFoundError, PermissionDeniedError,
        ConfigError (another datasource's) or StoreError."""
        if conversation_id is None:
            conversation = Conversation(uuid.uuid4().hex, user, ConversationMemory(self.max_messages), False)
            with self._lock:
                conversation.holders = 1
                self._held[conversation.id] = conversation
            return conversation
        conversation_id = conversation_id.strip()
        with self._lock:
            held = self._join(user, conversation_id)
        if held is not None:
            return held
        restored = self._restore(user, conversation_id)
        with self._lock:
            held = self._join(user, conversation_id)  # opened by another session meanwhile
            if held is not None:
                return held
            restored.holders = 1
            self._held[restored.id] = restored
        log.info(
            "conversation %s of %s restored (%d messages)", restored.id, user, len(restored.memory.messages)
        )
        return restored

    def _join(self, user: str, conversation_id: str) -> Conversation | None:
        held = self._held.get(conversation_id)
        if held is None:
            return None
        _check_owner(user, held.owner, conversation_id)
        held.holders += 1
        return held

    def _restore(self, user: str, conversation_id: str) -> Conversation:
        if self.registry is None:
            raise NotFoundError(
                f"there is no conversation {conversation_id[:100]} in this engine, and it keeps no "
                "run registry to find it in (kyuubi.engine.data.agent.store.enabled=false)"
            )
        record = self.registry.get_conversation(conversation_id)
        if record is None:
            raise NotFoundError(
                f"there is no conversation {conversation_id[:100]} (it may have been deleted or "
                f"expired); open a session without {CONVERSATION_ID.key} to start a new one"
            )
        _check_owner(user, record.owner, conversation_id)
        if record.datasource != self.datasource:
            raise ConfigError(
                f"conversation {conversation_id} was held over another datasource ({record.datasource}); "
                f"this engine serves {self.datasource}"
            )
        memory = ConversationMemory(self.max_messages)
        saved = self.registry.load_memory(conversation_id)
        if saved is not None:
            memory.restore(saved)
        return Conversation(record.id, record.owner, memory, True)

    def record(self, conversation: Conversation) -> None:
        """Queue the conversation's row in the registry, once (before its first run)."""
        with self._lock:
            if conversation.stored:
                return
            conversation.stored = True
        if self.registry is not None:
            self.registry.create_conversation(
                conversation.owner, self.datasource, conversation_id=conversation.id
            )

    def release(self, conversation: Conversation) -> bool:
        """A session let go of ``conversation``; True when it was the last one here."""
        with self._lock:
            conversation.holders -= 1
            if conversation.holders > 0:
                return False
            if self._held.get(conversation.id) is conversation:
                del self._held[conversation.id]
            return True

    def held(self) -> int:
        with self._lock:
            return len(self._held)


def _check_owner(user: str, owner: str, conversation_id: str) -> None:
    if user != owner:
        raise PermissionDeniedError(
            f"user {user} may not continue conversation {conversation_id}, which belongs to another user"
        )
