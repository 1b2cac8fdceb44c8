"""A small lexical scan of one SQL text: how many statements it holds and its first keyword.

This is not the read-only guard (that is sqlglot, in ``engine.tools.guard``). It backs the
database-enforced layer: PostgreSQL's simple query protocol runs every statement of a string,
so ``SELECT 1; COMMIT; DELETE ...`` would leave the read-only transaction. The scan knows
quotes, quoted identifiers, dollar quotes and comments, and fails closed on anything unterminated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.common.errors import InvalidStatementError

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class Scan:
    statements: int  # non-empty statements
    first_keyword: str  # upper case; "(" for a parenthesis; "" when the text starts with something else
    words: frozenset[str]  # every bare word outside quotes and comments, upper case


def scan(sql: str, *, backslash_escapes: bool = False) -> Scan:
    """Count the statements of ``sql``; raises InvalidStatementError when a quote or comment is open."""
    statements = 0
    current_has_text = False
    first_keyword = ""
    words: set[str] = set()
    index = 0
    length = len(sql)
    while index < length:
        char = sql[index]
        if char in " \t\r\n\f\v" or char.isspace():
            index += 1
            continue
        if char == ";":
            if current_has_text:
                statements += 1
            current_has_text = False
            index += 1
            continue
        if char == "-" and sql.startswith("--", index):
            end = sql.find("\n", index)
            index = length if end < 0 else end + 1
            continue
        if char == "#" and backslash_escapes:  # MySQL's other line comment
            end = sql.find("\n", index)
            index = length if end < 0 else end + 1
            continue
        if char == "/" and sql.startswith("/*", index):
            index = _block_comment_end(sql, index)
            continue
        if not current_has_text and statements == 0 and not first_keyword:
            first_keyword = "(" if char == "(" else "?"
        if char.isalpha() or char == "_":
            word = _WORD.match(sql, index)
            if word is not None:
                upper = word.group(0).upper()
                words.add(upper)
                if first_keyword == "?" and not current_has_text and statements == 0:
                    first_keyword = upper
                current_has_text = True
                index = word.end()
                continue
        current_has_text = True
        if char in ("'", '"', "`"):
            index = _quote_end(sql, index, char, backslash_escapes or _is_escape_string(sql, index))
            continue
        if char == "[" and not backslash_escapes:  # SQLite / T-SQL quoted identifier
            end = sql.find("]", index + 1)
            if end < 0:
                raise InvalidStatementError("the SQL has an unterminated [identifier]")
            index = end + 1
            continue
        if char == "$":
            tag = _DOLLAR_TAG.match(sql, index)
            if tag and (index == 0 or not (sql[index - 1].isalnum() or sql[index - 1] == "_")):
                end = sql.find(tag.group(0), tag.end())
                if end < 0:
                    raise InvalidStatementError("the SQL has an unterminated dollar-quoted string")
                index = end + len(tag.group(0))
                continue
        index += 1
    if current_has_text:
        statements += 1
    return Scan(statements, first_keyword if first_keyword != "?" else "", frozenset(words))


def _block_comment_end(sql: str, start: int) -> int:
    depth = 0
    index = start
    while index < len(sql):
        if sql.startswith("/*", index):
            depth += 1
            index += 2
        elif sql.startswith("*/", index):
            depth -= 1
            index += 2
            if depth == 0:
                return index
        else:
            index += 1
    raise InvalidStatementError("the SQL has an unterminated /* comment")


def _is_escape_string(sql: str, index: int) -> bool:
    """PostgreSQL E'...' strings honour backslash escapes."""
    return (
        sql[index] == "'"
        and index > 0
        and sql[index - 1] in "eE"
        and (index == 1 or not (sql[index - 2].isalnum() or sql[index - 2] == "_"))
    )


def _quote_end(sql: str, start: int, quote: str, backslash_escapes: bool) -> int:
    index = start + 1
    while index < len(sql):
        char = sql[index]
        if backslash_escapes and char == "\\" and quote != "`":
            index += 2
            continue
        if char == quote:
            if sql.startswith(quote * 2, index):  # doubled quote
                index += 2
                continue
            return index + 1
        index += 1
    raise InvalidStatementError(f"the SQL has an unterminated {quote} quote")


def require_single_statement(sql: str, *, backslash_escapes: bool = False) -> Scan:
    """The scan of ``sql``; raises InvalidStatementError unless it holds exactly one statement."""
    result = scan(sql, backslash_escapes=backslash_escapes)
    if result.statements == 0:
        raise InvalidStatementError("the SQL is empty")
    if result.statements > 1:
        raise InvalidStatementError(
            f"the SQL holds {result.statements} statements; run exactly one statement per call"
        )
    return result
