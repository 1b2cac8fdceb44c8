"""The writes every run makes, built once with bound parameters.

Building a SQLAlchemy statement costs about five times as much as executing a built one (a
one-step run makes six: its start, the conversation's title and time, its memory, the user's token
count and its end; measured with bench/overhead.py, where they were a third of the engine's CPU
per statement). Each statement here is built once per dialect and executed with a parameter dict;
the values still go through the columns' types (UTC timestamps, booleans on SQLite).

Parameter names carry a ``p_`` prefix: SQLAlchemy reserves a column's own name for the SET clause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.schema import CONVERSATIONS, RUNS, TOKEN_USAGE

_RUN_COLUMNS = (
    "id",
    "conversation_id",
    "owner",
    "question",
    "status",
    "started",
    "steps",
    "prompt_tokens",
    "completion_tokens",
    "model",
    "incomplete",
    "events_dropped",
    "instance",
)
_END_COLUMNS = ("status", "error", "ended", "steps", "prompt_tokens", "completion_tokens")


def _params(names: tuple[str, ...]) -> dict[str, sa.BindParameter[object]]:
    return {name: sa.bindparam(f"p_{name}") for name in names}


def bind(values: Mapping[str, object]) -> dict[str, object]:
    """The parameters of a statement here for column ``values``."""
    return {f"p_{name}": value for name, value in values.items()}


# The end of a run (RunJournal.finish): its status, error, time and counts.
END_RUN = sa.update(RUNS).where(RUNS.c.id == sa.bindparam("p_run_id")).values(**_params(_END_COLUMNS))

# A new run in a conversation: the conversation is touched and takes the question as its title
# while it has none.
TOUCH_CONVERSATION = (
    sa.update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == sa.bindparam("p_id"))
    .values(
        updated=sa.bindparam("p_updated"),
        title=sa.case(
            (CONVERSATIONS.c.title == "", sa.bindparam("p_title", type_=sa.Text())),
            else_=CONVERSATIONS.c.title,
        ),
    )
)

# A conversation's memory after a run.
SAVE_MEMORY = (
    sa.update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == sa.bindparam("p_id"))
    .values(memory=sa.bindparam("p_memory"), updated=sa.bindparam("p_updated"))
)


@dataclass(frozen=True)
class DialectStatements:
    """The per-run statements whose form depends on the dialect (INSERT … ON CONFLICT)."""

    start_run: sa.Insert
    add_token_usage: sa.Insert

    @classmethod
    def build(cls, dialect: str) -> DialectStatements:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        run = insert(RUNS).values(**_params(_RUN_COLUMNS)).on_conflict_do_nothing()
        usage = insert(TOKEN_USAGE).values(
            **_params(("username", "day", "prompt_tokens", "completion_tokens"))
        )
        usage = usage.on_conflict_do_update(
            index_elements=[TOKEN_USAGE.c.username, TOKEN_USAGE.c.day],
            set_={
                "prompt_tokens": TOKEN_USAGE.c.prompt_tokens + usage.excluded.prompt_tokens,
                "completion_tokens": TOKEN_USAGE.c.completion_tokens + usage.excluded.completion_tokens,
            },
        )
        return cls(start_run=run, add_token_usage=usage)
