"""The read-only guard: the first layer of the read-only boundary (the database's read-only
transaction or ``mode=ro`` connection is the second).

It fails closed. A statement passes only when every step below says yes:

1. The text is not empty and holds no invisible or non-ASCII whitespace characters (databases
   and sqlglot disagree about them).
2. sqlglot tokenizes it in the datasource's dialect, and every character between two tokens is
   plain whitespace or a comment the database also reads as a comment (no MySQL ``/*! ... */``
   executable comments, no nested ``/* /* */``, MySQL ``--`` followed by whitespace only).
3. It holds exactly one statement, and its first keyword is on the allow-list: a query
   (``SELECT``, ``WITH``, ``VALUES``, ``TABLE``, ``(``, ``FROM``), ``EXPLAIN`` without
   ``ANALYZE``, ``DESCRIBE``/``SHOW`` where the dialect reads with them, and the introspection
   ``PRAGMA``s on SQLite.
4. sqlglot parses it, and every node of the tree is a read node on the allow-list below or a
   function call the dialect's rule allows (:mod:`engine.tools.guard_refs`: on PostgreSQL the
   database's own volatility catalog, elsewhere the deny-list). Writing CTEs, ``SELECT ... INTO``,
   ``FOR UPDATE``/``FOR SHARE``, assignments and everything sqlglot falls back to a raw
   ``Command`` for are therefore rejected. SHOW must be a secret-free form
   (:mod:`engine.tools.guard_show`).
5. Its tokens hold no denied or volatile call and no relation that exposes server files,
   credentials or other sessions' SQL (the net of :func:`engine.tools.guard_refs.check_tokens`).

A rejection raises :class:`ReadOnlyViolationError`, whose text says why and that
``run_mutation_query`` (which needs approval) exists.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from engine.common.read_policy import NO_FACTS, ReadPolicy
from engine.datasource.sqltext import QUERY_KEYWORDS, SqlTextError, Tok, split_statements, tokenize
from engine.datasource.sqltext import error_text as _first_line
from engine.tools.guard_error import MUTATION_HINT, ReadOnlyViolationError
from engine.tools.guard_error import reject as _reject
from engine.tools.guard_refs import check_named_object, check_tokens, check_tree, node_label
from engine.tools.guard_rules import (
    DESCRIBE_DIALECTS,
    EXPLAIN_OPTION_WORDS,
    SHOW_DIALECTS,
    SQLITE_READ_PRAGMAS,
)
from engine.tools.guard_show import check_show

__all__ = ["MUTATION_HINT", "GuardVerdict", "ReadOnlyViolationError", "check_read_only"]

_QUERY_STARTS = QUERY_KEYWORDS - {"TABLE"}  # TABLE t reads only where the dialect says so
_ALLOWED_SPACE = frozenset(" \t\r\n")
_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)


@dataclass(frozen=True)
class GuardVerdict:
    kind: str  # query | explain | describe | show | pragma
    statement: str  # the statement text (outer whitespace and trailing semicolons removed)


def check_read_only(sql: str, dialect: str | None, policy: ReadPolicy | None = None) -> GuardVerdict:
    """Raise ReadOnlyViolationError unless ``sql`` is exactly one read-only statement.

    ``policy`` holds what the datasource knows (PostgreSQL's function volatility, MySQL's default
    database). Without it a PostgreSQL statement may call no named function: fail closed."""
    policy = policy or NO_FACTS
    if not isinstance(sql, str) or not sql.strip():
        raise ReadOnlyViolationError("the SQL is empty; give one SELECT statement")
    dialect = dialect or None
    _check_characters(sql)
    tokens = _tokenize(sql, dialect)
    _check_gaps(sql, tokens, dialect)
    _check_unicode_identifiers(tokens)
    statements = split_statements(tokens)
    if not statements:
        raise ReadOnlyViolationError("the SQL holds only comments; give one SELECT statement")
    if len(statements) > 1:
        raise _reject(f"the SQL holds {len(statements)} statements; run exactly one statement per call")
    body = statements[0]
    text = sql[body[0].start : body[-1].end + 1]
    kind = _check_statement(text, body, dialect, policy)
    check_tokens(body, dialect, policy)
    return GuardVerdict(kind, text)


# --- characters, tokens, gaps -------------------------------------------------------------------
def _check_characters(sql: str) -> None:
    for char in sql:
        if char in _ALLOWED_SPACE or (" " < char < "\x7f"):
            continue
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"):
            raise _reject(
                f"the SQL contains the invisible or non-ASCII whitespace character U+{ord(char):04X}; "
                "use plain spaces"
            )


def _tokenize(sql: str, dialect: str | None) -> list[Tok]:
    """Every token of ``sql`` (the shared lexer, which also reads what follows a command keyword)."""
    try:
        return tokenize(sql, dialect)
    except SqlTextError as exc:
        raise _reject(f"the SQL could not be parsed ({exc.detail})") from None


def _check_gaps(sql: str, tokens: list[Tok], dialect: str | None) -> None:
    """Everything outside tokens must be whitespace or a comment every reader agrees on."""
    position = 0
    for token in tokens:
        _check_gap(sql[position : token.start], dialect)
        position = token.end + 1
    _check_gap(sql[position:], dialect)


def _check_gap(gap: str, dialect: str | None) -> None:
    index = 0
    mysql_like = dialect in (None, "mysql")
    while index < len(gap):
        char = gap[index]
        if char in _ALLOWED_SPACE:
            index += 1
        elif gap.startswith("--", index):
            follower = gap[index + 2 : index + 3]
            if mysql_like and follower not in ("", " ", "\t", "\r", "\n"):
                raise _reject("MySQL reads '--' as a comment only when a space follows it; write '-- '")
            end = gap.find("\n", index)
            index = len(gap) if end < 0 else end + 1
        elif char == "#" and dialect == "mysql":
            end = gap.find("\n", index)
            index = len(gap) if end < 0 else end + 1
        elif gap.startswith("/*", index):
            end = gap.find("*/", index + 2)
            if end < 0:
                raise _reject("the SQL has an unterminated /* comment")
            body = gap[index + 2 : end]
            if re.match(r"[A-Za-z]?!", body):  # MySQL /*! */, MariaDB /*M! */: executed, not comments
                raise _reject("executable /*! ... */ comments are not allowed")
            if "/*" in body:
                raise _reject("nested /* comments are not allowed (databases disagree on them)")
            index = end + 2
        else:
            raise _reject(
                f"the SQL has text the parser could not account for near {gap[index : index + 20]!r}"
            )


def _check_unicode_identifiers(tokens: list[Tok]) -> None:
    """PostgreSQL's ``U&"\\0073etval"`` names a function or table by escapes; sqlglot reads it as
    ``U & "..."``, so names could hide from the deny-lists. Refused outright."""
    for first, amp, name in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            first.text in ("U", "u")
            and amp.token_type == TokenType.AMP
            and amp.start == first.end + 1
            and name.start == amp.end + 1
            and name.token_type == TokenType.IDENTIFIER
        ):
            raise _reject('unicode-escaped identifiers (U&"...") are not allowed; write the name plainly')


# --- statements ---------------------------------------------------------------------------------
def _check_statement(text: str, tokens: list[Tok], dialect: str | None, policy: ReadPolicy) -> str:
    first = tokens[0].text.upper()
    if first in _QUERY_STARTS or (first == "TABLE" and dialect in ("postgres", None)):
        _check_query(text, dialect, policy)
        return "query"
    if first == "EXPLAIN" or (first in ("DESCRIBE", "DESC") and dialect in DESCRIBE_DIALECTS):
        return _check_explain(text, tokens, dialect, policy)
    if first == "SHOW" and dialect in SHOW_DIALECTS:
        check_show(tokens, dialect, policy)
        return "show"
    if first == "PRAGMA" and dialect == "sqlite":
        _check_pragma(text)
        return "pragma"
    if first in ("DESCRIBE", "DESC", "SHOW", "PRAGMA"):
        raise _reject(
            f"{first} is not a read statement in this datasource's dialect ({dialect or 'generic'})"
        )
    raise _reject(
        f"{first} statements are not read-only queries; only SELECT (WITH, VALUES, EXPLAIN) can run here"
    )


def _check_explain(text: str, tokens: list[Tok], dialect: str | None, policy: ReadPolicy) -> str:
    """EXPLAIN / DESCRIBE [options] (<query> | <table> [column]); ANALYZE executes: rejected."""
    keyword = tokens[0].text.upper()
    index = 1
    depth = 0
    while index < len(tokens):
        token = tokens[index]
        word = token.text.upper()
        if word in ("ANALYZE", "ANALYSE"):
            raise _reject(f"{keyword} ANALYZE executes the statement; use {keyword} without ANALYZE")
        if (
            token.token_type == TokenType.L_PAREN
            and depth == 0
            and index == 1
            and dialect in ("postgres", "trino", None)
        ):
            depth = 1
        elif depth and token.token_type == TokenType.R_PAREN:
            depth = 0
        elif depth or word in EXPLAIN_OPTION_WORDS or token.token_type in (TokenType.EQ, TokenType.COMMA):
            if (
                depth
                and token.token_type
                not in (TokenType.VAR, TokenType.COMMA, TokenType.NUMBER, TokenType.STRING)
                and word not in EXPLAIN_OPTION_WORDS
            ):
                raise _reject(f"unknown {keyword} option {token.text!r}")
        else:
            break
        index += 1
    if index >= len(tokens):
        raise _reject(f"{keyword} needs a query or a table name")
    rest = tokens[index:]
    inner = text[rest[0].start - tokens[0].start :]
    if keyword != "EXPLAIN" or dialect in ("mysql", None):  # DESCRIBE t [col] / MySQL EXPLAIN t
        if _is_object_name(rest):
            check_named_object(rest, dialect, policy)
            return "describe"
    if rest[0].text.upper() in _QUERY_STARTS or rest[0].text.upper() == "TABLE":
        _check_query(inner, dialect, policy)
        return "explain"
    raise _reject(f"{keyword} may only show a read query or a table here")


def _is_object_name(tokens: list[Tok]) -> bool:
    """``name[.name[.name]] [column]``: identifiers only."""
    names = [token for token in tokens if token.token_type != TokenType.DOT]
    dots = len(tokens) - len(names)
    if not names or len(names) > 4 or not all(_is_name(token) for token in names):
        return False
    # every DOT sits between two names; at most one trailing bare column name
    for before, token in itertools.pairwise(tokens):
        if token.token_type == TokenType.DOT and before.token_type == TokenType.DOT:
            return False
    if tokens[0].token_type == TokenType.DOT or tokens[-1].token_type == TokenType.DOT:
        return False
    return len(names) - dots in (1, 2)


def _is_name(token: Tok) -> bool:
    if token.token_type in (TokenType.VAR, TokenType.IDENTIFIER):
        return True
    return bool(re.fullmatch(r"[A-Za-z_]\w*", token.text)) and token.text.upper() not in _QUERY_STARTS


def _check_pragma(text: str) -> None:
    match = re.fullmatch(
        r"(?is)pragma\s+(?:(\w+)\s*\.\s*)?(\w+)\s*(\(\s*(?:'[^']*'|\"[^\"]*\"|\w+)\s*\))?", text
    )
    if match is None:
        raise _reject("only introspection PRAGMAs without assignment are allowed, e.g. PRAGMA table_info(t)")
    name = match.group(2).lower()
    if name not in SQLITE_READ_PRAGMAS:
        raise _reject(f"PRAGMA {name} is not an introspection PRAGMA")


def _check_query(text: str, dialect: str | None, policy: ReadPolicy) -> None:
    try:
        parsed = [node for node in sqlglot.parse(text, read=dialect) if node is not None]
    except SqlglotError as exc:
        raise _reject(f"the SQL could not be parsed ({_first_line(exc)})") from None
    except Exception as exc:  # a parser bug must still fail closed
        raise _reject(f"the SQL could not be parsed ({type(exc).__name__})") from None
    if len(parsed) != 1:
        raise _reject("the SQL must hold exactly one statement")
    root = parsed[0]
    if not isinstance(root, _QUERY_ROOTS):
        raise _reject(f"{node_label(root)} is not a read query")
    check_tree(root, text, dialect, policy)
