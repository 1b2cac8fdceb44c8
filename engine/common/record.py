"""Plain records of the run registry: conversations, runs, events, approvals, memory, token usage.

These are what the store (:mod:`engine.store`) hands to the layers above it, so that no consumer
imports the store's tables or SQLAlchemy. Every time is timezone-aware UTC. This module is
stdlib only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from engine.common.znode import subdomain

#: A JSON object as the store keeps it (conversation settings, memory messages).
JsonObject = Mapping[str, object]


class RunStatus(enum.StrEnum):
    """Where a run is. Every value but ``running`` is terminal."""

    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    STOPPED = "stopped"  # cancelled, closed, or detached for too long
    INTERRUPTED = "interrupted"  # the engine that ran it went away (restart, crash)

    @property
    def terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class ApprovalStatus(enum.StrEnum):
    """The state of one parked tool call. Every value but ``pending`` is a decision."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"  # the engine that parked it went away before anyone decided

    @property
    def decided(self) -> bool:
        return self is not ApprovalStatus.PENDING


def datasource_fingerprint(jdbc_url: str | None) -> str:
    """What the store keeps of a datasource: never its URL, only the hash Kyuubi's engine
    subdomain uses (``ds-`` + the first 8 bytes of its sha256 in hex; ``default`` for none)."""
    return subdomain(jdbc_url)


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    owner: str
    datasource: str  # a fingerprint (datasource_fingerprint), never a URL
    title: str
    created: datetime
    updated: datetime
    settings: JsonObject = field(default_factory=dict)
    runs: int = 0  # how many runs it has (filled by listings and get)


@dataclass(frozen=True)
class RunRecord:
    id: str
    conversation_id: str | None
    owner: str
    question: str  # redacted
    status: RunStatus
    started: datetime
    ended: datetime | None = None
    error: str | None = None
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None
    incomplete: bool = False  # some of its events were lost (store outage, queue overflow)
    events_dropped: int = 0
    last_seq: int = 0  # sequence number of its last committed event (0: none)


@dataclass(frozen=True)
class EventRecord:
    run_id: str
    seq: int  # 1, 2, 3... per run, no gaps unless the run is incomplete
    type: str
    payload: str  # the compact JSON of the ``reply`` row, exactly as a client saw it
    time: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    request_id: str
    run_id: str
    tool: str
    arguments: str  # JSON text of the exact arguments the approval is bound to
    risk: str
    status: ApprovalStatus
    requested: datetime
    decided_by: str | None = None
    reason: str | None = None
    decided: datetime | None = None


@dataclass(frozen=True)
class MemoryRecord:
    """A conversation's agent memory: its history in OpenAI chat message form and its token
    counters (such as ``cumulative_prompt_tokens``), written at the end of each run."""

    messages: tuple[JsonObject, ...] = ()
    counters: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenUsage:
    """LLM tokens one user spent on one UTC day."""

    user: str
    day: date
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class StoreStats:
    """What the store's writer has done since it opened (for metrics and benchmarks)."""

    transactions: int
    events_committed: int
    events_dropped: int
    write_errors: int
    outages: int
    queued: int  # operations waiting to be written now
    reachable: bool
