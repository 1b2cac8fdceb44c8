"""The operation log (``FetchResults`` with ``fetchType=1``): live progress as short human lines.

beeline prints these lines on stderr while a statement runs (about once a second) and PyHive reads
them with ``cursor.fetch_logs()``, so they are how a JDBC user follows a run and answers a parked
tool call from a second session.

- :class:`OperationLog` holds one operation's lines in a bounded window with one read cursor: a
  long run keeps its newest ``max_lines`` lines, and a reader that fell behind the window gets one
  line saying how many were dropped.
- :class:`ProgressLog` turns an agent run's events into those lines, beside the result-mode sinks
  that turn the same events into rows: a step, a tool call with its SQL, a tool's outcome (the row
  count or the error), a compaction, the run's end, and every parked call with the two statements
  that answer it. Every line is redacted, and long SQL is cut.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable

from engine.agent.events import (
    AgentEvent,
    AgentFinishEvent,
    ApprovalRequestEvent,
    CompactionEvent,
    StepStartEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from engine.common.redaction import redact_text

MAX_LOG_LINES = 2000  # the window one operation keeps
MAX_LINE_CHARS = 4000  # no single line holds more (a parked call's SQL is the longest)
SQL_CHARS = 1000  # SQL shown in a tool-call or parked-call line
OUTPUT_CHARS = 300  # a tool's error or one-line outcome


def cut(text: str, limit: int) -> str:
    """``text`` on one line (runs of whitespace become one space), cut at ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}... ({len(flat) - limit} more characters)"


class OperationLog:
    """A bounded window of log lines and the position of the next line to read."""

    def __init__(self, max_lines: int = MAX_LOG_LINES, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self.max_lines = max(1, max_lines)
        self.max_line_chars = max_line_chars
        self._lock = threading.Lock()
        self._lines: deque[str] = deque()
        self._first = 0  # absolute number of the window's first line (lines before it were dropped)
        self._cursor = 0  # absolute number of the next line a FETCH_NEXT returns

    @property
    def total(self) -> int:
        """How many lines were ever appended (dropped ones included)."""
        with self._lock:
            return self._first + len(self._lines)

    def append(self, line: str) -> None:
        if len(line) > self.max_line_chars:
            line = line[: self.max_line_chars] + "..."
        with self._lock:
            self._lines.append(line)
            if len(self._lines) > self.max_lines:
                self._lines.popleft()
                self._first += 1

    def read(self, max_rows: int, from_start: bool = False) -> tuple[list[str], int, bool]:
        """Up to ``max_rows`` lines from the cursor (from the window's start with ``from_start``).

        Returns (lines, position of the first, whether unread lines remain). Lines dropped before
        they were read become one line that says so, counted within ``max_rows``.
        """
        with self._lock:
            if from_start:
                self._cursor = 0
            start = self._cursor
            lines: list[str] = []
            if max_rows > 0 and self._cursor < self._first:
                dropped = self._first - self._cursor
                lines.append(
                    stamp(
                        "WARN",
                        f"{dropped} earlier log line(s) dropped "
                        f"(an operation keeps its last {self.max_lines} lines)",
                    )
                )
                self._cursor = self._first
            offset = self._cursor - self._first
            taken = list(itertools.islice(self._lines, offset, offset + max(0, max_rows - len(lines))))
            lines.extend(taken)
            self._cursor += len(taken)
            return lines, start, self._cursor < self._first + len(self._lines)


def stamp(level: str, text: str) -> str:
    """One log line: the local time, the level and the redacted text."""
    return f"{time.strftime('%H:%M:%S')} {level} {redact_text(text)}"


def _sql_of(args: dict[str, object]) -> str | None:
    sql = args.get("sql")
    return sql if isinstance(sql, str) else None


def _args_text(args: dict[str, object]) -> str:
    sql = _sql_of(args)
    if sql is not None:
        return cut(sql, SQL_CHARS)
    return cut(json.dumps(args, ensure_ascii=False, separators=(",", ":"), default=str), SQL_CHARS)


class ProgressLog:
    """Writes the operation-log lines of an agent run's events through ``write``."""

    def __init__(self, write: Callable[[str], None], approval_timeout: float, *, parks: bool = True) -> None:
        self.write = write
        self.approval_timeout = approval_timeout
        self.parks = parks  # False: gated calls are denied at once (result mode 'table')

    def on_event(self, event: AgentEvent) -> None:
        for line in self.lines(event):
            self.write(line)

    def lines(self, event: AgentEvent) -> list[str]:
        """The lines for ``event`` (none for text deltas, the run's start and ``error``, which the
        operation's own failure line reports)."""
        if isinstance(event, StepStartEvent):
            return [stamp("INFO", f"step {event.step}")]
        if isinstance(event, ToolCallEvent):
            return [stamp("INFO", f"calling {event.name}: {_args_text(event.args)}")]
        if isinstance(event, ToolResultEvent):
            return [self._outcome(event)]
        if isinstance(event, ApprovalRequestEvent):
            return self._parked(event)
        if isinstance(event, CompactionEvent):
            return [
                stamp(
                    "INFO",
                    f"compaction: {event.summarized} older message(s) summarized, {event.kept} kept "
                    f"(prompt {event.observed_tokens} tokens, trigger {event.trigger_tokens})",
                )
            ]
        if isinstance(event, AgentFinishEvent):
            return [
                stamp(
                    "INFO",
                    f"agent finished after {event.steps} step(s) "
                    f"({event.accumulated_prompt_tokens} prompt + "
                    f"{event.accumulated_completion_tokens} completion tokens)",
                )
            ]
        return []

    @staticmethod
    def _outcome(event: ToolResultEvent) -> str:
        if event.is_error:
            return stamp("WARN", f"{event.name} failed: {cut(event.output, OUTPUT_CHARS)}")
        table = event.table
        if table is not None:
            count = len(table.rows)
            rows = f"{count} row{'' if count == 1 else 's'}"
            more = " (more exist: cut at the tool's row cap)" if table.truncated else ""
            return stamp("INFO", f"{event.name} returned {rows}{more} in {table.elapsed:.3f} s")
        lines = event.output.strip().splitlines()
        if len(lines) == 1:
            return stamp("INFO", f"{event.name} done: {cut(lines[0], OUTPUT_CHARS)}")
        return stamp("INFO", f"{event.name} done: {len(lines)} lines of output")

    def _parked(self, event: ApprovalRequestEvent) -> list[str]:
        rid = event.request_id
        if not self.parks:
            return [
                stamp(
                    "WARN",
                    f"{event.name} ({event.risk_level}) needs approval, which result mode 'table' "
                    f"cannot ask for: denied, request {rid}: {_args_text(event.args)}",
                )
            ]
        return [
            stamp(
                "WARN",
                f"approval needed: {event.name} ({event.risk_level}) waits up to "
                f"{self.approval_timeout:g} s, request {rid}: {_args_text(event.args)}",
            ),
            stamp("WARN", f"  to approve, run in another session: __approve:{rid}"),
            stamp("WARN", f"  to deny, run in another session: __deny:{rid} <reason>"),
        ]
