"""The one SQL lexer (sqlglot's tokenizer): statement counts, first keywords and words, per
dialect, failing closed on anything unterminated."""

from __future__ import annotations

import pytest

from engine.common.errors import InvalidStatementError
from engine.datasource.sqltext import SqlTextError, require_single_statement, shape, tokenize


@pytest.mark.parametrize(
    ("dialect", "sql", "statements", "first"),
    [
        ("sqlite", "SELECT 1", 1, "SELECT"),
        ("sqlite", "  select 1 ;; ", 1, "SELECT"),
        ("sqlite", "SELECT 1; SELECT 2", 2, "SELECT"),
        ("sqlite", "SELECT 'a;b' -- c;\n", 1, "SELECT"),
        ("sqlite", "SELECT [a;b] FROM t", 1, "SELECT"),
        ("sqlite", "/* ; */ (SELECT 1)", 1, "("),
        ("sqlite", "-- only a comment", 0, ""),
        ("sqlite", "PRAGMA table_info(t)", 1, "PRAGMA"),
        ("postgres", "SELECT $$a;b$$", 1, "SELECT"),
        ("postgres", "SELECT E'a\\';b'", 1, "SELECT"),
        ("postgres", "EXPLAIN SELECT 1; DELETE FROM t", 2, "EXPLAIN"),
        ("postgres", "SHOW search_path; SELECT 1", 2, "SHOW"),
        ("postgres", 'SELECT "a;b" FROM t', 1, "SELECT"),
        ("mysql", "SELECT 'a\\';b'", 1, "SELECT"),
        ("mysql", "SELECT `a;b` # c;\n", 1, "SELECT"),
        ("mysql", "SELECT 1; SELECT 2", 2, "SELECT"),
        (None, "WITH x AS (SELECT 1) SELECT * FROM x", 1, "WITH"),
        (None, "'text' first", 1, ""),
    ],
)
def test_statements_and_first_keyword(dialect: str | None, sql: str, statements: int, first: str) -> None:
    result = shape(sql, dialect)
    assert (result.statements, result.first_keyword) == (statements, first)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("sqlite", "SELECT 'unterminated"),
        ("postgres", "SELECT 'a\\';b'"),  # standard strings: the backslash does not escape
        ("postgres", "SELECT $$open"),
        ("mysql", "SELECT `open"),
        ("sqlite", "SELECT 1 /* open"),
    ],
)
def test_anything_unterminated_fails_closed(dialect: str, sql: str) -> None:
    with pytest.raises(SqlTextError, match="could not be parsed"):
        shape(sql, dialect)


def test_words_outside_quotes_and_comments() -> None:
    words = shape("SELECT a INTO OUTFILE '/tmp/x' -- DUMPFILE\n", "mysql").words
    assert {"SELECT", "A", "INTO", "OUTFILE"} <= words and "DUMPFILE" not in words
    assert "DUMPFILE" not in shape("SELECT 'DUMPFILE', `DUMPFILE`", "mysql").words


def test_text_after_a_command_keyword_is_tokenized_too() -> None:
    tokens = tokenize("SHOW TABLES IN `db`", "hive")
    assert [token.text for token in tokens] == ["SHOW", "TABLES", "IN", "db"]
    assert tokens[-1].quoted and tokens[-1].word == "" and tokens[1].word == "TABLES"
    assert "SHOW TABLES IN `db`"[tokens[2].start : tokens[2].end + 1] == "IN"


def test_require_single_statement() -> None:
    assert require_single_statement("SELECT 1;", "sqlite").first_keyword == "SELECT"
    with pytest.raises(InvalidStatementError, match="empty"):
        require_single_statement(" -- nothing", "sqlite")
    with pytest.raises(InvalidStatementError, match="2 statements"):
        require_single_statement("SELECT 1; COMMIT", "postgres")
