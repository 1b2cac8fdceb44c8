"""The initial schema: conversations, runs, events, approvals, token usage, instances.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(length=64)
USER = sa.String(length=255)


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", ID, nullable=False),
        sa.Column("owner", USER, nullable=False),
        sa.Column("datasource", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        _time("created"),
        _time("updated"),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("memory", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index(op.f("ix_conversations_owner_updated"), "conversations", ["owner", "updated"])
    op.create_index(op.f("ix_conversations_updated"), "conversations", ["updated"])

    op.create_table(
        "instances",
        sa.Column("id", ID, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _time("started"),
        _time("heartbeat"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
    )

    op.create_table(
        "token_usage",
        sa.Column("username", USER, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("username", "day", name=op.f("pk_token_usage")),
    )

    op.create_table(
        "runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=True),
        sa.Column("owner", USER, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _time("started"),
        _time("ended", nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=True),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("events_dropped", sa.Integer(), nullable=False),
        sa.Column("instance", ID, nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'success', 'error', 'stopped', 'interrupted')",
            name=op.f("ck_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_runs_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_owner_started"), "runs", ["owner", "started"])
    op.create_index(op.f("ix_runs_conversation_id_started"), "runs", ["conversation_id", "started"])
    op.create_index(op.f("ix_runs_status_started"), "runs", ["status", "started"])
    op.create_index(op.f("ix_runs_started"), "runs", ["started"])
    op.create_index(op.f("ix_runs_ended"), "runs", ["ended"])

    op.create_table(
        "approvals",
        sa.Column("request_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("tool", sa.String(length=255), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("risk", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", USER, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _time("requested"),
        _time("decided", nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'timed_out', 'expired')",
            name=op.f("ck_approvals_status"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_approvals_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_run_id"), "approvals", ["run_id"])
    op.create_index(op.f("ix_approvals_status"), "approvals", ["status"])

    op.create_table(
        "events",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _time("time"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_events_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_events")),
    )


def downgrade() -> None:
    for table in ("events", "approvals", "runs", "token_usage", "instances", "conversations"):
        op.drop_table(table)
