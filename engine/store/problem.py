"""What went wrong with the store's database, in two questions: is it worth retrying, and how to
say it without leaking the URL's password or the rows being written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import psycopg2
from sqlalchemy import exc as sa_exc

from engine.common.redaction import redact_text

_TRANSIENT = (
    sa_exc.OperationalError,  # unreachable, connection lost, SQLite locked or read-only
    sa_exc.InterfaceError,  # a connection already closed
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the pool had no connection to give
    OSError,
    # the same, raised by a driver's own call (the writer's bulk insert on PostgreSQL)
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    sqlite3.OperationalError,
)


def is_transient(error: BaseException) -> bool:
    """True for errors of reaching the database (retry later), False for errors of content."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _TRANSIENT)


def describe(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """A one-line, masked description: the driver's own message, never the statement or its rows."""
    cause: BaseException = error
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        cause = error.orig
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    text = redact_text(text, secrets)
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
