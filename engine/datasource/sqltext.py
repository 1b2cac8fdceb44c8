"""The engine's one SQL lexer: sqlglot's tokenizer, with absolute positions, for every layer that
needs to know what a SQL text holds before (or without) parsing it.

- The datasource checks that a read holds exactly one statement and starts with a read keyword
  (PostgreSQL's simple query protocol runs every statement of a string, so
  ``SELECT 1; COMMIT; DELETE ...`` would leave the read-only transaction).
- The read-only guard (``engine.tools.guard``) checks the gaps between tokens and each statement.
- The statement parser (``engine.operation.parser``) reads the Hive control forms.

sqlglot swallows the text after a command keyword (``SHOW``, ``EXPLAIN`` on some dialects,
``CALL``...) as one raw string token; :func:`tokenize` tokenizes that remainder again, so every
word is seen. An unterminated quote or comment raises :class:`SqlTextError` (fail closed).

This module imports sqlglot only (never SQLAlchemy), so the layers above may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from engine.common.errors import InvalidStatementError

# The words a query starts with (``(`` is a parenthesised query, ``FROM`` DuckDB's FROM-first).
QUERY_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "(", "FROM"})
# The words any read statement starts with; SQLite adds its introspection PRAGMAs.
READ_KEYWORDS = QUERY_KEYWORDS | frozenset({"EXPLAIN", "SHOW", "DESCRIBE", "DESC"})
SQLITE_READ_KEYWORDS = READ_KEYWORDS | frozenset({"PRAGMA"})

# Token types whose text is quoted data or a quoted name, never a bare word.
_QUOTED = frozenset(
    getattr(TokenType, name)
    for name in (
        "STRING",
        "IDENTIFIER",
        "NATIONAL_STRING",
        "RAW_STRING",
        "BIT_STRING",
        "HEX_STRING",
        "BYTE_STRING",
        "HEREDOC_STRING",
        "UNICODE_STRING",
    )
    if hasattr(TokenType, name)
)


class SqlTextError(InvalidStatementError):
    """The text could not be tokenized (an unterminated quote or comment, a stray character)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the SQL could not be parsed ({detail})")
        self.detail = detail


@dataclass(frozen=True)
class Tok:
    """One token with its absolute position in the SQL text (``end`` inclusive)."""

    token_type: TokenType
    text: str
    start: int
    end: int

    @property
    def quoted(self) -> bool:
        """A string literal or a quoted identifier: data, never a keyword."""
        return self.token_type in _QUOTED

    @property
    def word(self) -> str:
        """The upper-case bare word this token is ("" for quoted tokens, numbers and symbols)."""
        if self.quoted or not self.text or not (self.text[0].isalpha() or self.text[0] == "_"):
            return ""
        if not all(char.isalnum() or char in "_$" for char in self.text):
            return ""
        return self.text.upper()


def tokenize(sql: str, dialect: str | None) -> list[Tok]:
    """Every token of ``sql`` in sqlglot's ``dialect`` (None or "" is sqlglot's generic one)."""
    tokenizer_dialect = sqlglot.Dialect.get_or_raise(dialect or None)
    commands = tokenizer_dialect.tokenizer_class.COMMANDS
    found: list[Tok] = []
    position = 0
    while position < len(sql):
        try:
            tokens = tokenizer_dialect.tokenize(sql[position:])
        except SqlglotError as exc:
            raise SqlTextError(_token_error_detail(exc)) from None
        except Exception as exc:  # a tokenizer bug must still fail closed
            raise SqlTextError(type(exc).__name__) from None
        restart = None
        for token in tokens:
            found.append(Tok(token.token_type, token.text, token.start + position, token.end + position))
            if token.token_type in commands:
                restart = token.end + position + 1
                break
        if restart is None:
            break
        position = restart
    return found


def split_statements(tokens: list[Tok]) -> list[list[Tok]]:
    """The tokens of each non-empty statement, split at semicolons."""
    statements: list[list[Tok]] = []
    current: list[Tok] = []
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if current:
                statements.append(current)
            current = []
        else:
            current.append(token)
    if current:
        statements.append(current)
    return statements


def first_keyword(tokens: list[Tok]) -> str:
    """``(`` for a parenthesis, the upper-case first word, or "" when the text starts otherwise."""
    if not tokens:
        return ""
    if tokens[0].token_type == TokenType.L_PAREN:
        return "("
    return tokens[0].word


@dataclass(frozen=True)
class StatementShape:
    """What one SQL text holds, as the datasource needs to know before running it."""

    statements: int  # non-empty statements
    first_keyword: str  # upper case; "(" for a parenthesis; "" when the text starts otherwise
    words: frozenset[str]  # every bare word outside quotes and comments, upper case


def shape(sql: str, dialect: str | None) -> StatementShape:
    """Count the statements of ``sql``; raises SqlTextError when a quote or comment is open."""
    statements = split_statements(tokenize(sql, dialect))
    words = frozenset(token.word for body in statements for token in body if token.word)
    return StatementShape(len(statements), first_keyword(statements[0]) if statements else "", words)


def require_single_statement(sql: str, dialect: str | None) -> StatementShape:
    """The shape of ``sql``; raises InvalidStatementError unless it holds exactly one statement."""
    result = shape(sql, dialect)
    if result.statements == 0:
        raise InvalidStatementError("the SQL is empty")
    if result.statements > 1:
        raise InvalidStatementError(
            f"the SQL holds {result.statements} statements; run exactly one statement per call"
        )
    return result


def _token_error_detail(exc: SqlglotError) -> str:
    """sqlglot's "Error tokenizing '...'" says little; its cause says what is open."""
    cause = exc.__cause__ or exc.__context__
    text = str(cause) if cause is not None else ""
    if text.startswith("Missing "):
        delimiter, _, where = text[len("Missing ") :].partition(" from ")
        return f"unterminated {delimiter} opened at line:column {where}"
    if isinstance(cause, IndexError):
        return "an unterminated comment or quote"
    return error_text(exc)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_text(exc: BaseException) -> str:
    """The first line of a sqlglot error, without the ANSI colours it marks the position with."""
    lines = str(exc).strip().splitlines()
    return _ANSI.sub("", lines[0]) if lines else type(exc).__name__
