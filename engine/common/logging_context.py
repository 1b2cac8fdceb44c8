"""Structured logging: session and operation ids carried by contextvars into every record."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from engine.common.redaction import RedactingFilter, SecretRegistry

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


def configure_logging(
    level: str = "INFO", secrets: SecretRegistry | None = None, stream: TextIO | None = None
) -> None:
    """Install one handler on the root logger with the context and redaction filters."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
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
