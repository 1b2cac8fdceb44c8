"""SHOW statements the read-only guard lets through: an allow-list per dialect, fail closed.

- PostgreSQL: ``SHOW <setting>`` and the multi-word forms (``SHOW TIME ZONE``...), except
  ``SHOW ALL``, custom (dotted) settings and the settings that name server files or hold commands
  and connection strings (:data:`~engine.tools.guard_rules.PG_SECRET_SETTINGS`).
- MySQL/MariaDB: the schema-metadata forms of :data:`~engine.tools.guard_rules.MYSQL_SHOW_FORMS`
  (TABLES, COLUMNS/FIELDS, INDEX/KEYS, CREATE TABLE/VIEW, DATABASES, TABLE STATUS...), with
  ``LIKE '<pattern>'`` where MySQL takes it and never ``WHERE`` (an expression could call
  anything). ``SHOW GRANTS`` (password hashes), ``SHOW CREATE USER``, ``SHOW PROCESSLIST``, the
  logs and engine status are not on the list, and neither are the ``mysql``,
  ``performance_schema`` and ``sys`` databases as a target.
- Hive, Trino, DuckDB and the generic fallback: SHOW reads metadata there; no further check.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot.tokens import TokenType

from engine.common.read_policy import ReadPolicy
from engine.tools.guard_error import reject
from engine.tools.guard_refs import TokenLike, check_mysql_object, name_of
from engine.tools.guard_rules import (
    MYSQL_DENIED_SCHEMAS,
    MYSQL_SHOW_FORMS,
    PG_SECRET_SETTINGS,
    PG_SHOW_PHRASES,
)

_FROM_OR_IN = frozenset({"FROM", "IN"})


def check_show(tokens: Sequence[TokenLike], dialect: str | None, policy: ReadPolicy) -> None:
    """Raise ReadOnlyViolationError unless ``tokens`` (starting with SHOW) is an allowed form."""
    words = tokens[1:]
    if dialect == "postgres":
        _check_pg_show(words)
    elif dialect == "mysql":
        _check_mysql_show(words, policy)


def _check_pg_show(words: Sequence[TokenLike]) -> None:
    if tuple(token.text.upper() for token in words) in PG_SHOW_PHRASES:
        return
    name = name_of(words[0]) if len(words) == 1 else None
    if name is None:
        raise reject("SHOW takes one setting name here, e.g. SHOW search_path")
    setting = name[0]
    if setting.lower() == "all":
        raise reject(
            "SHOW ALL lists settings that name server files or hold credentials; SHOW one setting by name"
        )
    if setting.lower() in PG_SECRET_SETTINGS:
        raise reject(f"the setting {setting} names server files or can hold commands or credentials")


def _mysql_form(upper: list[str]) -> tuple[int, frozenset[str]]:
    """How many leading words name the SHOW form, and what may follow them."""
    for length in (2, 1):
        lead = tuple(upper[:length])
        if len(lead) == length and lead in MYSQL_SHOW_FORMS:
            return length, MYSQL_SHOW_FORMS[lead]
    shown = " ".join(upper[:2]) or "without a subject"
    raise reject(
        f"SHOW {shown} is not one of the read-only SHOW forms (TABLES, COLUMNS, INDEX, "
        "CREATE TABLE/VIEW, DATABASES, TABLE STATUS...)"
    )


def _check_mysql_show(words: Sequence[TokenLike], policy: ReadPolicy) -> None:
    upper = [token.text.upper() for token in words]
    length, allowed = _mysql_form(upper)
    rest = list(words[length:])
    index = 0
    schema: str | None = None
    names: list[tuple[str | None, str]] = []
    if "object" in allowed or "target" in allowed:
        if "target" in allowed:
            if index >= len(rest) or rest[index].text.upper() not in _FROM_OR_IN:
                raise reject(f"SHOW {' '.join(upper[:length])} needs FROM <table>")
            index += 1
        qualifier, name, index = _qualified_name(rest, index)
        names.append((qualifier, name))
    if "source" in allowed and index < len(rest) and rest[index].text.upper() in _FROM_OR_IN:
        if index + 1 >= len(rest) or not _is_name(rest[index + 1]):
            raise reject("SHOW ... FROM needs a database name")
        schema = rest[index + 1].text
        index += 2
    if "like" in allowed and index < len(rest) and rest[index].text.upper() == "LIKE":
        if index + 1 >= len(rest) or rest[index + 1].token_type != TokenType.STRING:
            raise reject("SHOW ... LIKE needs a quoted pattern")
        index += 2
    if index != len(rest):
        raise reject(
            "this SHOW form takes only FROM <name> and LIKE '<pattern>' here (no WHERE); "
            "query information_schema with a SELECT instead"
        )
    if schema is not None and schema.lower() in MYSQL_DENIED_SCHEMAS:
        check_mysql_object(schema, "")
    for qualifier, name in names:
        check_mysql_object(qualifier or schema or policy.default_schema, name)


def _qualified_name(tokens: Sequence[TokenLike], index: int) -> tuple[str | None, str, int]:
    if index >= len(tokens) or not _is_name(tokens[index]):
        raise reject("SHOW needs a table name here")
    if index + 2 < len(tokens) and tokens[index + 1].token_type == TokenType.DOT:
        if not _is_name(tokens[index + 2]):
            raise reject("SHOW needs a table name here")
        return tokens[index].text, tokens[index + 2].text, index + 3
    return None, tokens[index].text, index + 1


def _is_name(token: TokenLike) -> bool:
    return name_of(token) is not None
