"""Typed statements: what the text of one ExecuteStatement means, decided once.

The operation layer's parser (``engine.operation.parser``) turns the text into exactly one of
the frozen dataclasses below, and the operation manager routes on its type; no operation reads
the text again. Each statement renders back (:meth:`render`) to text that parses to an equal
value, in Hive's quoting (backticks for names, backslash escapes in strings).

Plain types, stdlib only, so that every layer above (operations, the REST surface) can use them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

APPROVE_PREFIX = "__approve:"
DENY_PREFIX = "__deny:"
ATTACH_PREFIX = "__attach:"
SQL_PREFIX = "__sql:"


def quote_name(name: str) -> str:
    """A Hive identifier in backticks (a backtick inside is doubled)."""
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    """A Hive string literal in single quotes (backslash and quote escaped with a backslash)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _qualified(schema: str | None, table: str) -> str:
    return f"{quote_name(schema)}.{quote_name(table)}" if schema is not None else quote_name(table)


# --- what the agent answers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """Natural language for the agent (also anything that is no other statement)."""

    text: str

    def render(self) -> str:
        return self.text


# --- SQL that skips the LLM ---------------------------------------------------------------------
@dataclass(frozen=True)
class SqlQuery:
    """One read-only query over existing tables, in the datasource's dialect (``SELECT``,
    ``WITH``, ``EXPLAIN <query>``), recognised under ``sql.routing=auto``."""

    sql: str

    def render(self) -> str:
        return self.sql


@dataclass(frozen=True)
class Passthrough:
    """``__sql: <query>``: SQL that the read-only boundary alone judges, in every routing mode."""

    sql: str

    def render(self) -> str:
        return f"{SQL_PREFIX} {self.sql}"


@dataclass(frozen=True)
class DescribeQuery:
    """Spark's ``DESCRIBE QUERY <query>``: the query's result columns, without running it in full."""

    sql: str

    def render(self) -> str:
        return f"DESCRIBE QUERY {self.sql}"


# --- session control ----------------------------------------------------------------------------
@dataclass(frozen=True)
class UseDatabase:
    name: str

    def render(self) -> str:
        return f"USE {quote_name(self.name)}"


@dataclass(frozen=True)
class SetStatement:
    """``SET`` (list the session's settings), ``SET key`` (show one) or ``SET key=value``."""

    key: str | None = None
    value: str | None = None

    def render(self) -> str:
        if self.key is None:
            return "SET"
        if self.value is None:
            return f"SET {self.key}"
        return f"SET {self.key}={self.value}"


class ProbeKind(enum.Enum):
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    NULL = "null"
    CURRENT_DATE = "current_date"
    CURRENT_TIMESTAMP = "current_timestamp"
    VERSION = "version"
    CURRENT_DATABASE = "current_database"
    CURRENT_USER = "current_user"


_PROBE_CALLS = {
    ProbeKind.NULL: "NULL",
    ProbeKind.CURRENT_DATE: "CURRENT_DATE",
    ProbeKind.CURRENT_TIMESTAMP: "CURRENT_TIMESTAMP()",
    ProbeKind.VERSION: "version()",
    ProbeKind.CURRENT_DATABASE: "current_database()",
    ProbeKind.CURRENT_USER: "current_user()",
}


@dataclass(frozen=True)
class ProbeItem:
    """One literal of a probe. ``text``: a number's digits, a string's value, ``true``/``false``."""

    kind: ProbeKind
    text: str = ""
    alias: str | None = None

    def render(self) -> str:
        if self.kind is ProbeKind.NUMBER:
            literal = self.text
        elif self.kind is ProbeKind.STRING:
            literal = quote_string(self.text)
        elif self.kind is ProbeKind.BOOLEAN:
            literal = self.text.upper()
        else:
            literal = _PROBE_CALLS[self.kind]
        return literal if self.alias is None else f"{literal} AS {quote_name(self.alias)}"


@dataclass(frozen=True)
class Probe:
    """``SELECT <literal> [[AS] alias], ...`` without FROM: JDBC validation queries, BI probes."""

    items: tuple[ProbeItem, ...]

    def render(self) -> str:
        return "SELECT " + ", ".join(item.render() for item in self.items)


# --- Hive's catalog forms -----------------------------------------------------------------------
@dataclass(frozen=True)
class ShowSchemas:
    like: str | None = None  # Hive's pattern: * any run, | alternatives

    def render(self) -> str:
        return "SHOW SCHEMAS" + (f" LIKE {quote_string(self.like)}" if self.like is not None else "")


@dataclass(frozen=True)
class ShowTables:
    schema: str | None = None
    like: str | None = None

    def render(self) -> str:
        text = "SHOW TABLES"
        if self.schema is not None:
            text += f" IN {quote_name(self.schema)}"
        return text + (f" LIKE {quote_string(self.like)}" if self.like is not None else "")


@dataclass(frozen=True)
class ShowCreateTable:
    schema: str | None
    table: str

    def render(self) -> str:
        return f"SHOW CREATE TABLE {_qualified(self.schema, self.table)}"


@dataclass(frozen=True)
class DescribeTable:
    """``DESC[RIBE] [EXTENDED|FORMATTED] [TABLE] [db.]t``."""

    schema: str | None
    table: str

    def render(self) -> str:
        return f"DESCRIBE {_qualified(self.schema, self.table)}"


# --- approvals and runs -------------------------------------------------------------------------
@dataclass(frozen=True)
class Approval:
    """``__approve:<requestId> [reason]`` or ``__deny:<requestId> [reason]`` (Kyuubi's contract)."""

    request_id: str
    approved: bool
    reason: str = ""

    def render(self) -> str:
        prefix = APPROVE_PREFIX if self.approved else DENY_PREFIX
        return prefix + self.request_id + (f" {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Attach:
    """``__attach:<runId>``: replay a run's events, then follow it live."""

    run_id: str

    def render(self) -> str:
        return ATTACH_PREFIX + self.run_id


@dataclass(frozen=True)
class ShowRuns:
    """``SHOW RUNS [ALL] [LIMIT n]``: the caller's runs (an administrator's ALL: everyone's)."""

    all_users: bool = False
    limit: int | None = None

    def render(self) -> str:
        return (
            "SHOW RUNS"
            + (" ALL" if self.all_users else "")
            + (f" LIMIT {self.limit}" if self.limit is not None else "")
        )


@dataclass(frozen=True)
class ShowConversations:
    limit: int | None = None

    def render(self) -> str:
        return "SHOW CONVERSATIONS" + (f" LIMIT {self.limit}" if self.limit is not None else "")


# --- BI wrappers around a question --------------------------------------------------------------
@dataclass(frozen=True)
class BiWrapper:
    """``SELECT * | cols | COUNT(*) [AS a] FROM (<question>) [AS] t [LIMIT n]``: a BI tool's probe
    around a question (or around ``__sql: ...``). ``columns`` empty and ``count`` false is ``*``."""

    inner: str
    columns: tuple[str, ...] = ()
    count: bool = False
    count_alias: str | None = None
    alias: str | None = None
    limit: int | None = None

    def render(self) -> str:
        if self.count:
            what = "COUNT(*)" + (
                f" AS {quote_name(self.count_alias)}" if self.count_alias is not None else ""
            )
        else:
            what = ", ".join(quote_name(column) for column in self.columns) or "*"
        text = f"SELECT {what} FROM ({self.inner})"
        if self.alias is not None:
            text += f" AS {quote_name(self.alias)}"
        return text + (f" LIMIT {self.limit}" if self.limit is not None else "")


@dataclass(frozen=True)
class UnsupportedWrapper:
    """``SELECT ... FROM (<question>) ...`` in a shape :class:`BiWrapper` does not cover: the agent
    gets the text as it is, except in table result mode, where it is a clear error."""

    text: str

    def render(self) -> str:
        return self.text


Statement = (
    Question
    | SqlQuery
    | Passthrough
    | DescribeQuery
    | UseDatabase
    | SetStatement
    | Probe
    | ShowSchemas
    | ShowTables
    | ShowCreateTable
    | DescribeTable
    | Approval
    | Attach
    | ShowRuns
    | ShowConversations
    | BiWrapper
    | UnsupportedWrapper
)
