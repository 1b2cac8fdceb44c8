"""Structured logging: session and operation ids carried by contextvars into every record."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from engine.common.redaction import RedactingFilter, SecretRegistry, TextPattern

session_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("session_id", default="-")
operation_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("operation_id", default="-")


@contextmanager
def log_context(session_id: str | None = None, operation_id: str | None = None) -> Iterator[None]:
    tokens = []
    if session_id is not None:
        tokens.append((session_id_var, session_id_var.set(session_id)))
    if operation_id is not None:
        tokens.append((operation_id_var, operation_id_var.set(operation_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session_id = session_id_var.get()
        record.operation_id = operation_id_var.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s session=%(session_id)s op=%(operation_id)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``kyuubi.engine.data.agent.log.format=json``: one JSON object per line with time, level,
    logger, thread, session, operation and message (and the traceback as ``exception``). It
    formats records the redaction filter has already masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "session": getattr(record, "session_id", "-"),
            "operation": getattr(record, "operation_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def configure_logging(
    level: str = "INFO",
    secrets: SecretRegistry | None = None,
    stream: TextIO | None = None,
    *,
    log_format: str = "text",
    extra_redaction: TextPattern | None = None,
) -> None:
    """Install one handler on the root logger with the context and redaction filters; ``text``
    lines or ``json`` objects; ``extra_redaction`` masks the operator's pattern too."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(secrets, extra_redaction))
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)


class LogThrottle:
    """Rate limit for one kind of log line from one source (a connection, say): the first line
    passes, then at most one per ``interval`` seconds, telling how many were held back.

    Not thread-safe on purpose: one connection is served by one thread.
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = 0.0
        self._held = 0

    def allow(self) -> int | None:
        """None: drop this line. Otherwise log it, adding the returned count of lines dropped."""
        now = self._clock()
        if now < self._next:
            self._held += 1
            return None
        self._next = now + self.interval
        held, self._held = self._held, 0
        return held
