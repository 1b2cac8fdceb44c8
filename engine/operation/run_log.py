"""What one agent run tells the operator: its start (user and question), the SQL of every tool
call, and its end (status, steps, tokens, seconds).

:class:`RunTracker` follows a run's events and works out how it ended; it hands both to
:class:`RunObserver` objects. :class:`RunLog` is the observer that writes the log lines; other
observers (metrics, say) count the same events and outcomes. Levels: a run's start, its tool calls
and a success or a cancel are INFO, a failed run (an error event, an agent or datasource error, a
timeout) is WARNING, an engine fault (an unexpected exception) is ERROR. The question and the SQL
are redacted; the question is cut to 200 characters. Tool results and model output never reach
these lines (they are DEBUG-only, behind ``log.content``).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.agent.events import AgentEvent, AgentFinishEvent, ErrorEvent, StepStartEvent, ToolCallEvent
from engine.common.redaction import clip, redact_text

log = logging.getLogger(__name__)

QUESTION_CHARS = 200
SQL_CHARS = 8192
_REDACT_WINDOW = 4096  # redact this much of a question before cutting it (secrets across the cut)


class RunStatus(enum.Enum):
    SUCCESS = "success"
    ERROR = "error"  # the run failed: an error event, an agent, datasource or configuration error
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    FAULT = "fault"  # an engine bug: an exception nobody raised on purpose


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    steps: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    message: str = ""  # why it failed (already redacted), empty on success


class RunObserver(Protocol):
    def on_start(self, user: str, question: str) -> None: ...

    def on_event(self, event: AgentEvent) -> None: ...

    def on_end(self, outcome: RunOutcome) -> None: ...


def one_line(text: str, limit: int) -> str:
    """``text`` redacted, on one line, cut to ``limit`` characters (with the count cut)."""
    shown = redact_text(text[:_REDACT_WINDOW] if limit < _REDACT_WINDOW else text)
    shown = " ".join(shown.split())
    if len(shown) > limit:
        return f"{shown[:limit]}… ({len(text)} characters)"
    return shown


class RunLog:
    """The run's log lines (see the module's doc)."""

    def on_start(self, user: str, question: str) -> None:
        log.info("run started: user %s asks %r", clip(user), one_line(question, QUESTION_CHARS))

    def on_event(self, event: AgentEvent) -> None:
        if isinstance(event, ToolCallEvent):
            sql = event.args.get("sql")
            if isinstance(sql, str):
                log.info("run tool call %s: %s", clip(event.name), one_line(sql, SQL_CHARS))
            else:
                log.info("run tool call %s %s", clip(event.name), one_line(str(event.args), 400))

    def on_end(self, outcome: RunOutcome) -> None:
        level = {
            RunStatus.SUCCESS: logging.INFO,
            RunStatus.CANCELLED: logging.INFO,
            RunStatus.FAULT: logging.ERROR,
        }.get(outcome.status, logging.WARNING)
        log.log(
            level,
            "run ended: %s after %d steps, %d+%d tokens, %.2f s%s",
            outcome.status.value,
            outcome.steps,
            outcome.prompt_tokens,
            outcome.completion_tokens,
            outcome.seconds,
            f": {outcome.message}" if outcome.message else "",
        )


class RunTracker:
    """Follows one run for its observers; an observer that fails is logged, never the run's end."""

    def __init__(self, user: str, question: str, observers: Sequence[RunObserver]) -> None:
        self._observers = tuple(observers)
        self._started = time.monotonic()
        self._steps = 0
        self._finish: AgentFinishEvent | None = None
        self._error = ""
        self._ended = False
        self._notify(lambda observer: observer.on_start(user, question))

    def on_event(self, event: AgentEvent) -> None:
        if isinstance(event, StepStartEvent):
            self._steps = max(self._steps, event.step)
        elif isinstance(event, AgentFinishEvent):
            self._finish = event
        elif isinstance(event, ErrorEvent) and not self._error:
            self._error = one_line(event.message, 500)
        self._notify(lambda observer: observer.on_event(event))

    def end(self, status: RunStatus | None = None, message: str = "") -> RunOutcome:
        """The run is over: ``status`` None means it ran to its end (an error event makes that a
        failure). Observers hear of the end once."""
        finish = self._finish
        if status is None:
            status = RunStatus.ERROR if self._error else RunStatus.SUCCESS
        outcome = RunOutcome(
            status=status,
            steps=finish.steps if finish is not None else self._steps,
            prompt_tokens=finish.accumulated_prompt_tokens if finish is not None else 0,
            completion_tokens=finish.accumulated_completion_tokens if finish is not None else 0,
            seconds=time.monotonic() - self._started,
            message=one_line(message, 500) if message else self._error,
        )
        if not self._ended:
            self._ended = True
            self._notify(lambda observer: observer.on_end(outcome))
        return outcome

    def _notify(self, call: Callable[[RunObserver], None]) -> None:
        for observer in self._observers:
            try:
                call(observer)
            except Exception:
                log.warning("run observer %s failed", type(observer).__name__, exc_info=True)
