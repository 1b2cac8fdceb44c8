"""The statement parser: the text of one ExecuteStatement becomes one typed statement, once.

Bounded work, whatever the input:

1. A statement longer than ``statement.max.length`` (default 1 MiB) is refused before anything
   else looks at it.
2. A bounded prefix decides the kind: the ``__approve:``/``__deny:``/``__attach:``/``__sql:``
   prefixes, or the first keyword (after leading comments, within :data:`LEAD_SPAN`
   characters). Text that starts with no statement keyword is a question and is never tokenized.
3. The Hive/Kyuubi control forms (``USE``, ``SHOW ...``, ``DESCRIBE``, the ``SELECT <literal>``
   probes, a BI wrapper's outer shell) are read with sqlglot's Hive dialect, only within
   :data:`CONTROL_BUDGET` characters. ``SET`` is Hive's textual ``key=value``.
4. SQL is read in the datasource's dialect only within :data:`SQL_BUDGET` characters and parsed
   into a tree only within :data:`SQL_TOKEN_BUDGET` tokens (tokenized once). With ``sqlglotc``
   (the compiled sqlglot this project depends on) the worst text within both budgets takes
   ~0.1 s, during which compiled code holds the GIL; pure-Python sqlglot takes 3-6x longer but
   lets other threads run (``bench/parse.py`` prints both figures). ``__sql:`` longer than
   :data:`SQL_BUDGET` and ``DESCRIBE QUERY`` beyond either budget get a clear error (``__sql:``
   is parsed by the read-only guard when it runs); under ``sql.routing=auto`` text beyond
   either budget is a question.

Under ``sql.routing=auto`` a statement that parses as one read-only query (``SELECT``, ``WITH``,
``VALUES``, ``EXPLAIN <query>``) over tables the catalog knows (CTE names are not tables) is a
:class:`SqlQuery` that runs without the LLM; anything else that merely starts like SQL ("Select
the five best customers by revenue") stays a question. ``DESCRIBE <anything else>`` is an error,
never a question: that error is how pandas' ``has_table`` learns that a string is a query.

Two regular expressions, each with a single repeat and so linear: :data:`_FROM_PAREN` finds a
BI wrapper's ``FROM (`` in a capped prefix, and a whitespace-or-semicolon run trims text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from engine.common.catalog import TableInfo
from engine.common.errors import InvalidStatementError
from engine.common.statement import (
    APPROVE_PREFIX,
    ATTACH_PREFIX,
    DENY_PREFIX,
    SQL_PREFIX,
    Approval,
    Attach,
    BiWrapper,
    DescribeQuery,
    DescribeTable,
    Passthrough,
    Probe,
    ProbeItem,
    ProbeKind,
    Question,
    SetStatement,
    ShowConversations,
    ShowCreateTable,
    ShowRuns,
    ShowSchemas,
    ShowTables,
    SqlQuery,
    Statement,
    UnsupportedWrapper,
    UseDatabase,
)
from engine.datasource.sqltext import QUERY_KEYWORDS, SqlTextError, Tok, split_statements, tokenize

LEAD_SPAN = 4096  # leading comments and the first keyword must fit in this many characters
CONTROL_BUDGET = 4096  # USE, SHOW, DESCRIBE <table>, probes, a wrapper's head and tail
SQL_BUDGET = 32768  # characters of SQL read in the datasource's dialect (see the module doc)
SQL_TOKEN_BUDGET = 4096  # tokens of SQL parsed into a tree (see the module doc)
WRAPPER_TAIL = 256  # what may follow a wrapper's closing parenthesis: [AS] alias [LIMIT n]
HIVE = "hive"

# A run of whitespace and semicolons, matched on the reversed text to find what trails it
# (one repeat, anchored: linear; ``\s`` is exactly str.isspace()).
_SPACE_OR_SEMICOLON_RUN = re.compile(r"[\s;]*")
_FROM_PAREN = re.compile(r"\bfrom\s*\(", re.IGNORECASE)
_SQL_STARTS = frozenset(word.lower() for word in QUERY_KEYWORDS | {"EXPLAIN"})
_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Into, exp.Lock, exp.Create, exp.Drop)
_PROBE_FUNCTIONS: dict[type[exp.Expression], ProbeKind] = {
    exp.CurrentDate: ProbeKind.CURRENT_DATE,
    exp.CurrentTimestamp: ProbeKind.CURRENT_TIMESTAMP,
    exp.CurrentDatabase: ProbeKind.CURRENT_DATABASE,
    exp.CurrentUser: ProbeKind.CURRENT_USER,
}


class TableLookup(Protocol):
    """What the parser asks the catalog: the table, or InvalidStatementError when it does not
    exist (``CatalogView`` is one)."""

    def find_table(self, schema: str | None, name: str) -> TableInfo: ...


@dataclass(frozen=True)
class ParseOptions:
    """How to read a statement: the datasource's sqlglot dialect (None: generic), the routing
    mode, the length limit, and the catalog (None: no datasource, so no SQL routing)."""

    dialect: str | None = None
    routing: str = "auto"
    max_length: int = 1 << 20
    catalog: TableLookup | None = None


def parse_statement(text: str, options: ParseOptions) -> Statement:
    """The typed statement ``text`` means. Raises InvalidStatementError for a statement that is
    too long, empty, or a malformed control form (never for a question)."""
    if len(text) > options.max_length:
        raise InvalidStatementError(
            f"the statement is {len(text)} characters long; the limit is {options.max_length} "
            "(kyuubi.engine.data.agent.statement.max.length)"
        )
    body = text.strip()
    if not body:
        raise InvalidStatementError("the statement is empty: send a question")
    return _Parser(body, options).parse()


def _trim(text: str) -> str:
    """Outer whitespace and trailing semicolons removed (linear, in C)."""
    trailing = _SPACE_OR_SEMICOLON_RUN.match(text[::-1])
    return text[: len(text) - (trailing.end() if trailing else 0)].lstrip()


def _has_space(text: str) -> bool:
    return len(text.split(None, 1)) > 1


class _Parser:
    def __init__(self, body: str, options: ParseOptions) -> None:
        self.body = body
        self.options = options
        self.dialect = options.dialect or None

    def parse(self) -> Statement:
        body = self.body
        lowered_head = body[:16].lower()
        for prefix in (APPROVE_PREFIX, DENY_PREFIX):
            if lowered_head.startswith(prefix):
                return _approval(body[len(prefix) :], prefix == APPROVE_PREFIX)
        if lowered_head.startswith(ATTACH_PREFIX):
            return _attach(body[len(ATTACH_PREFIX) :])
        if lowered_head.startswith(SQL_PREFIX):
            return _passthrough(body[len(SQL_PREFIX) :])
        word, position = _leading_word(body)
        if word == "set":
            return _set(body[position:]) or Question(body)
        if word == "use":
            return self._use() or Question(body)
        if word == "show":
            return self._show() or Question(body)
        if word in ("desc", "describe"):
            return self._describe(position)
        if word == "select":
            found = self._probe() or self._sql() or self._wrapper()
            return found or Question(body)
        if word in _SQL_STARTS:
            return self._sql() or Question(body)
        return Question(body)

    # --- Hive control forms ----------------------------------------------------------------------
    def _hive_tokens(self) -> list[Tok] | None:
        """The one statement's tokens in Hive's dialect, within the control budget."""
        if len(self.body) > CONTROL_BUDGET:
            return None
        try:
            statements = split_statements(tokenize(self.body, HIVE))
        except SqlTextError:
            return None
        return statements[0] if len(statements) == 1 else None

    def _use(self) -> Statement | None:
        if len(self.body) > CONTROL_BUDGET:
            return None
        tree = _parse_one(self.body, HIVE)
        if not isinstance(tree, exp.Use) or tree.args.get("kind") is not None:
            return None
        target = tree.this
        if (
            not isinstance(target, exp.Table)
            or target.args.get("db")
            or not isinstance(target.this, exp.Identifier)
        ):
            return None
        return UseDatabase(target.name)

    def _show(self) -> Statement | None:
        tokens = self._hive_tokens()
        if tokens is None or len(tokens) < 2:
            return None
        reader = _TokenReader(tokens[1:])
        what = reader.word()
        if what in ("SCHEMAS", "DATABASES"):
            like = reader.string() if reader.accept("LIKE") else None
            return ShowSchemas(like) if reader.done() else None
        if what == "TABLES":
            schema = reader.name() if reader.accept("IN") or reader.accept("FROM") else None
            like = None
            if reader.accept("LIKE") or reader.peek_string():
                like = reader.string()
            return ShowTables(schema, like) if reader.done() else None
        if what == "CREATE" and reader.accept("TABLE"):
            qualified = reader.qualified_name()
            return ShowCreateTable(*qualified) if qualified is not None and reader.done() else None
        if what == "RUNS":
            all_users = reader.accept("ALL")
            limit = reader.number() if reader.accept("LIMIT") else None
            return ShowRuns(all_users, limit) if reader.done() else None
        if what == "CONVERSATIONS":
            limit = reader.number() if reader.accept("LIMIT") else None
            return ShowConversations(limit) if reader.done() else None
        return None

    def _describe(self, after_keyword: int) -> Statement:
        rest = self.body[after_keyword:]
        word, position = _leading_word(rest)
        if word == "query" and rest[position:].strip():
            sql = _trim(rest[position:])
            if not sql:
                raise InvalidStatementError(
                    "DESCRIBE QUERY needs a query, e.g. DESCRIBE QUERY SELECT * FROM t"
                )
            _check_sql_budget(sql, "DESCRIBE QUERY")
            if not isinstance(self._query_tree(sql), exp.Query):
                raise InvalidStatementError(
                    "DESCRIBE QUERY takes one read-only query (SELECT or WITH) of at most "
                    f"{SQL_TOKEN_BUDGET} tokens in the datasource's dialect"
                )
            return DescribeQuery(sql)
        tokens = self._hive_tokens()
        if tokens is not None:
            reader = _TokenReader(tokens[1:])
            if not reader.accept("EXTENDED"):
                reader.accept("FORMATTED")
            reader.accept("TABLE")
            qualified = reader.qualified_name()
            if qualified is not None and reader.done():
                return DescribeTable(*qualified)
        shown = self.body if len(self.body) <= 80 else self.body[:77] + "..."
        raise InvalidStatementError(
            "DESCRIBE takes a table name ([database.]table) or QUERY <select>; "
            f"{shown!r} is neither (to ask the agent, phrase the question without a leading DESCRIBE)"
        )

    def _probe(self) -> Statement | None:
        tokens = self._hive_tokens()
        if tokens is None or any(token.token_type == TokenType.FROM for token in tokens):
            return None
        tree = _parse_one(self.body, HIVE)
        if not isinstance(tree, exp.Select) or not tree.expressions:
            return None
        if any(value for key, value in tree.args.items() if key != "expressions"):
            return None
        items = []
        for expression in tree.expressions:
            item = _probe_item(expression)
            if item is None:
                return None
            items.append(item)
        return Probe(tuple(items))

    # --- SQL in the datasource's dialect ---------------------------------------------------------
    def _sql(self) -> Statement | None:
        """A read-only query over existing tables, under auto routing; None for anything else."""
        catalog = self.options.catalog
        if self.options.routing != "auto" or catalog is None or len(self.body) > SQL_BUDGET:
            return None
        found = _read_query(self.body, self.dialect)
        if found is None or not _reads_existing_tables(found.tree, catalog):
            return None
        return SqlQuery(found.text)

    def _query_tree(self, sql: str) -> exp.Expression | None:
        """The tree of one query with no write in it (not EXPLAIN), else None."""
        found = _read_query(sql, self.dialect)
        if found is None or found.explain or found.tree.find(*_WRITES) is not None:
            return None
        return found.tree

    # --- BI wrappers -----------------------------------------------------------------------------
    def _wrapper(self) -> Statement | None:
        body = self.body
        match = _FROM_PAREN.search(body, 0, CONTROL_BUDGET)
        close = body.rfind(")")
        if match is None or close < match.end():
            return None
        head = body[: match.end()]
        tail = body[close + 1 :]
        if len(tail) > WRAPPER_TAIL:
            return UnsupportedWrapper(body)
        inner = body[match.end() : close].strip()
        shell = _parse_one(head + "SELECT 1)" + tail, HIVE)
        wrapper = _wrapper_shape(shell, inner) if isinstance(shell, exp.Select) else None
        return wrapper or UnsupportedWrapper(body)


def _leading_word(text: str) -> tuple[str, int]:
    """The lower-case first keyword (``(`` for a parenthesis) after whitespace and comments, and
    where it ends; ("", 0) when nothing keyword-like starts within LEAD_SPAN characters."""
    limit = min(len(text), LEAD_SPAN)
    index = 0
    while index < limit:
        if text[index].isspace():
            index += 1
        elif text.startswith("--", index):
            end = text.find("\n", index, limit)
            if end < 0:
                return "", 0
            index = end + 1
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2, limit)
            if end < 0:
                return "", 0
            index = end + 2
        else:
            break
    if index < limit and text[index] == "(":
        return "(", index + 1
    end = index
    while end < limit and end - index <= 16 and (text[end].isalpha() or text[end] == "_"):
        end += 1
    if end == index or (end < len(text) and (text[end].isalnum() or text[end] in "_$")):
        return "", 0
    return text[index:end].lower(), end


def _parse_one(sql: str, dialect: str | None) -> exp.Expression | None:
    """One statement's tree, or None when sqlglot cannot read it as exactly one statement."""
    try:
        trees = [tree for tree in sqlglot.parse(sql, read=dialect) if isinstance(tree, exp.Expression)]
    except RecursionError:
        return None
    except Exception:  # a sqlglot error (or bug) means "not this form", never a crash
        return None
    return trees[0] if len(trees) == 1 else None


def _check_sql_budget(sql: str, form: str) -> None:
    if len(sql) > SQL_BUDGET:
        raise InvalidStatementError(
            f"{form} takes at most {SQL_BUDGET} characters of SQL (this one has {len(sql)}); "
            "send a shorter query"
        )


# --- prefixes -----------------------------------------------------------------------------------
def _approval(rest: str, approved: bool) -> Approval:
    parts = rest.split(None, 1)
    request_id = _trim(parts[0]) if parts else ""
    if not request_id:
        raise InvalidStatementError(
            "requestId cannot be empty: use __approve:<requestId> or __deny:<requestId> [reason]"
        )
    reason = _trim(parts[1]) if len(parts) > 1 else ""
    return Approval(request_id, approved, reason)


def _attach(rest: str) -> Attach:
    run_id = _trim(rest)
    if not run_id or _has_space(run_id):
        raise InvalidStatementError("__attach: needs one run id, e.g. __attach:<runId>")
    return Attach(run_id)


def _passthrough(rest: str) -> Passthrough:
    sql = _trim(rest)
    if not sql:
        raise InvalidStatementError("__sql: needs a query after the prefix, e.g. __sql: SELECT 1")
    _check_sql_budget(sql, "__sql:")
    return Passthrough(sql)


def _set(rest: str) -> SetStatement | None:
    """Hive's SET is textual: ``SET``, ``SET key`` or ``SET key=value`` (a key has no spaces;
    anything else, such as "Set up a weekly report", is not a SET)."""
    body = _trim(rest)
    if not body:
        return SetStatement()
    key, equals, value = body.partition("=")
    key = key.strip()
    if _has_space(key):
        return None
    if not equals:
        return SetStatement(key)
    if not key:
        raise InvalidStatementError("SET needs a key: SET key=value")
    return SetStatement(key, value.strip())


# --- probes, EXPLAIN, tables, wrappers ----------------------------------------------------------
def _probe_item(expression: exp.Expression) -> ProbeItem | None:
    alias = None
    if isinstance(expression, exp.Alias):
        alias = expression.alias
        expression = expression.this
    negative = isinstance(expression, exp.Neg)
    if negative:
        expression = expression.this
        if not (isinstance(expression, exp.Literal) and not expression.is_string):
            return None
    if isinstance(expression, exp.Literal):
        if expression.is_string:
            return ProbeItem(ProbeKind.STRING, expression.this, alias)
        return ProbeItem(ProbeKind.NUMBER, ("-" if negative else "") + expression.this, alias)
    if isinstance(expression, exp.Boolean):
        return ProbeItem(ProbeKind.BOOLEAN, "true" if expression.this else "false", alias)
    if isinstance(expression, exp.Null):
        return ProbeItem(ProbeKind.NULL, "", alias)
    kind = _PROBE_FUNCTIONS.get(type(expression))
    if kind is not None and not any(expression.args.values()):
        return ProbeItem(kind, "", alias)
    if isinstance(expression, exp.Anonymous) and str(expression.name).lower() == "version":
        return ProbeItem(ProbeKind.VERSION, "", alias) if not expression.expressions else None
    return None


class _Query(NamedTuple):
    text: str  # the statement without leading comments and trailing semicolons
    tree: exp.Expression  # the query (for EXPLAIN, the explained query)
    explain: bool


def _read_query(sql: str, dialect: str | None) -> _Query | None:
    """``sql`` as one query (or ``EXPLAIN <query>``) within the token budget; None otherwise.
    Tokenized once; writes inside the tree are the caller's to refuse."""
    try:
        reader = sqlglot.Dialect.get_or_raise(dialect)
        raw = reader.tokenize(sql)
    except Exception:  # a tokenizer error (or bug) means "not SQL"
        return None
    if not raw or len(raw) > SQL_TOKEN_BUDGET:
        return None
    end = len(raw)
    while end and raw[end - 1].token_type == TokenType.SEMICOLON:
        end -= 1
    body = raw[:end]
    if not body or any(token.token_type == TokenType.SEMICOLON for token in body):
        return None  # nothing, or more than one statement
    text = sql[body[0].start : body[-1].end + 1]
    if body[0].text.upper() == "EXPLAIN":
        start = _explained_query(tokenize(text, dialect))
        inner = None if start is None else _read_query(text[start:], dialect)
        return None if inner is None or inner.explain else _Query(text, inner.tree, explain=True)
    try:
        trees = [tree for tree in reader.parser().parse(raw, sql) if isinstance(tree, exp.Expression)]
    except RecursionError:
        return None
    except Exception:  # a parse error (or bug) means "not SQL"
        return None
    if len(trees) != 1 or not isinstance(trees[0], _QUERY_ROOTS):
        return None
    return _Query(text, trees[0], explain=False)


def _explained_query(tokens: list[Tok]) -> int | None:
    """Where the query of ``EXPLAIN [options] <query>`` starts; None for ANALYZE or no query."""
    index = 1
    if (
        len(tokens) > 2
        and tokens[1].token_type == TokenType.L_PAREN
        and tokens[2].token_type != TokenType.L_PAREN
        and tokens[2].word not in QUERY_KEYWORDS
    ):  # PostgreSQL's option list: EXPLAIN (FORMAT JSON, COSTS OFF) SELECT ...
        depth = 0
        while index < len(tokens):
            kind = tokens[index].token_type
            depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            if tokens[index].word in ("ANALYZE", "ANALYSE"):
                return None
            index += 1
            if depth == 0:
                break
    for token in tokens[index:]:
        if token.word in ("ANALYZE", "ANALYSE"):
            return None
        if token.word in QUERY_KEYWORDS or token.token_type == TokenType.L_PAREN:
            return token.start
        if not (token.word or token.token_type in (TokenType.EQ, TokenType.STRING, TokenType.NUMBER)):
            return None
    return None


def _reads_existing_tables(tree: exp.Expression, catalog: TableLookup) -> bool:
    """No write anywhere in ``tree``, and every table it reads is in the catalog (names of its
    CTEs are not tables); a query without tables must not name columns ("select everything")."""
    ctes: set[str] = set()
    tables: list[exp.Table] = []
    has_column = False
    for node in tree.walk():
        if isinstance(node, _WRITES):
            return False
        if isinstance(node, exp.CTE):
            ctes.add(node.alias_or_name.lower())
        elif isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            tables.append(node)
        elif isinstance(node, exp.Column):
            has_column = True
    if not tables:
        return not has_column
    for table in tables:
        schema = table.db or None
        if schema is None and table.name.lower() in ctes:
            continue
        try:
            catalog.find_table(schema, table.name)
        except InvalidStatementError:
            return False
    return True


def _wrapper_shape(shell: exp.Select, inner: str) -> BiWrapper | None:
    """The BiWrapper a parsed ``SELECT <what> FROM (SELECT 1) [AS] t [LIMIT n]`` shell stands for."""
    source = shell.args.get("from_")
    if source is None or not isinstance(source.this, exp.Subquery):
        return None
    if any(value for key, value in shell.args.items() if key not in ("expressions", "from_", "limit")):
        return None
    subquery = source.this
    if any(value for key, value in subquery.args.items() if key not in ("this", "alias")):
        return None
    alias = subquery.alias or None
    limit = None
    if shell.args.get("limit") is not None:
        value = shell.args["limit"].expression
        if not (isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit()):
            return None
        limit = int(value.this)
    expressions = shell.expressions
    if len(expressions) == 1 and isinstance(expressions[0], exp.Star):
        return BiWrapper(inner, alias=alias, limit=limit)
    first = expressions[0]
    count_alias = None
    if len(expressions) == 1 and isinstance(first, exp.Alias):
        count_alias, first = first.alias, first.this
    if len(expressions) == 1 and isinstance(first, exp.Count) and _counts_rows(first):
        return BiWrapper(inner, count=True, count_alias=count_alias, alias=alias, limit=limit)
    columns = []
    for expression in expressions:
        if (
            not isinstance(expression, exp.Column)
            or expression.table
            or not isinstance(expression.this, exp.Identifier)
        ):
            return None
        columns.append(expression.name)
    return BiWrapper(inner, tuple(columns), alias=alias, limit=limit)


def _counts_rows(count: exp.Count) -> bool:
    target = count.this
    if any(value for key, value in count.args.items() if key not in ("this", "big_int")):
        return False
    return isinstance(target, exp.Star) or (
        isinstance(target, exp.Literal) and not target.is_string and target.this == "1"
    )


class _TokenReader:
    """A cursor over the tokens of a Hive control form."""

    def __init__(self, tokens: list[Tok]) -> None:
        self.tokens = tokens
        self.index = 0
        self.failed = False

    def _peek(self) -> Tok | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def word(self) -> str:
        token = self._peek()
        if token is None or not token.word:
            return ""
        self.index += 1
        return token.word

    def accept(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.word == word:
            self.index += 1
            return True
        return False

    def peek_string(self) -> bool:
        token = self._peek()
        return token is not None and token.token_type == TokenType.STRING

    def string(self) -> str | None:
        token = self._peek()
        if token is None or token.token_type != TokenType.STRING:
            self.failed = True
            return None
        self.index += 1
        return token.text

    def number(self) -> int | None:
        token = self._peek()
        if token is None or token.token_type != TokenType.NUMBER or not token.text.isdigit():
            self.failed = True
            return None
        self.index += 1
        return int(token.text)

    def name(self) -> str | None:
        token = self._peek()
        if token is None or not (token.token_type == TokenType.IDENTIFIER or token.word):
            self.failed = True
            return None
        self.index += 1
        return token.text

    def qualified_name(self) -> tuple[str | None, str] | None:
        first = self.name()
        if first is None:
            return None
        token = self._peek()
        if token is None or token.token_type != TokenType.DOT:
            return None, first
        self.index += 1
        second = self.name()
        return None if second is None else (first, second)

    def done(self) -> bool:
        return not self.failed and self.index == len(self.tokens)
