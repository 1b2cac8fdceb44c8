"""The store's tables, in SQLAlchemy Core. Alembic migrations (``migrations/versions``) create
exactly these; a test compares the two on SQLite and PostgreSQL.

Every index here serves a query of :mod:`engine.store.store` or of the writer; the comment next to
each says which.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from engine.common.record import ApprovalStatus, RunStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
METADATA = sa.MetaData(naming_convention=NAMING)
VERSION_TABLE = "store_version"  # Alembic's, named so it cannot collide with another tool's

ID = sa.String(64)
USER = sa.String(255)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps it as naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


CONVERSATIONS = sa.Table(
    "conversations",
    METADATA,
    sa.Column("id", ID, primary_key=True),
    sa.Column("owner", USER, nullable=False),
    sa.Column("datasource", sa.String(64), nullable=False),  # a fingerprint, never a URL
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("updated", UtcDateTime, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),  # JSON object
    sa.Column("memory", sa.Text, nullable=True),  # JSON {"messages": [...], "counters": {...}}
    # list_conversations(owner): newest first
    sa.Index(None, "owner", "updated"),
    # retention: conversations not updated for long
    sa.Index(None, "updated"),
)

RUNS = sa.Table(
    "runs",
    METADATA,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "conversation_id",
        ID,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("owner", USER, nullable=False),
    sa.Column("question", sa.Text, nullable=False),  # redacted
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started", UtcDateTime, nullable=False),
    sa.Column("ended", UtcDateTime, nullable=True),
    sa.Column("steps", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
    sa.Column("model", sa.String(255), nullable=True),
    sa.Column("incomplete", sa.Boolean, nullable=False),
    sa.Column("events_dropped", sa.Integer, nullable=False),
    sa.Column("instance", ID, nullable=False),  # the engine process that runs it
    sa.CheckConstraint(_in("status", [status.value for status in RunStatus]), name="status"),
    # list_runs(owner=...): newest first
    sa.Index(None, "owner", "started"),
    # list_runs(conversation_id=...), run counts of conversations
    sa.Index(None, "conversation_id", "started"),
    # list_runs(status=...) and recovery of running runs
    sa.Index(None, "status", "started"),
    # list_runs() of an administrator: newest first
    sa.Index(None, "started"),
    # retention: runs that ended long ago
    sa.Index(None, "ended"),
)

EVENTS = sa.Table(
    "events",
    METADATA,
    # the primary key (run_id, seq) is the uniqueness rule and the index of events_after()
    sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("time", UtcDateTime, nullable=False),
)

APPROVALS = sa.Table(
    "approvals",
    METADATA,
    sa.Column("request_id", ID, primary_key=True),
    sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tool", sa.String(255), nullable=False),
    sa.Column("arguments", sa.Text, nullable=False),  # JSON
    sa.Column("risk", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", USER, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("requested", UtcDateTime, nullable=False),
    sa.Column("decided", UtcDateTime, nullable=True),
    sa.CheckConstraint(_in("status", [status.value for status in ApprovalStatus]), name="status"),
    # list_approvals(run_id), deleting a run's approvals
    sa.Index(None, "run_id"),
    # recovery of pending approvals
    sa.Index(None, "status"),
)

TOKEN_USAGE = sa.Table(
    "token_usage",
    METADATA,
    sa.Column("username", USER, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
)

INSTANCES = sa.Table(
    "instances",
    METADATA,
    # engine processes writing to this store; a stale heartbeat means the process is gone
    sa.Column("id", ID, primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started", UtcDateTime, nullable=False),
    sa.Column("heartbeat", UtcDateTime, nullable=False),
)
