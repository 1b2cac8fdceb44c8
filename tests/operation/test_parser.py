"""The statement parser: one typed statement per text, bounded work on hostile input, and every
statement that parses renders back to text that parses to an equal value (Hypothesis)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.common import statement as stmt
from engine.common.catalog import TableInfo
from engine.common.errors import InvalidStatementError
from engine.operation.parser import SQL_BUDGET, SQL_TOKEN_BUDGET, ParseOptions, parse_statement
from engine.operation.router import StatementRouter


class FakeCatalog:
    """The catalog port over a fixed set of tables (schema ``main``, also called ``default``)."""

    def __init__(self, *names: str) -> None:
        self.names = {name.lower() for name in names}
        self.lookups = 0

    def find_table(self, schema: str | None, name: str) -> TableInfo:
        self.lookups += 1
        if (schema or "main").lower() in ("main", "default") and name.lower() in self.names:
            return TableInfo("main", name, "TABLE")
        raise InvalidStatementError(f"Table not found {name}")


CATALOG = FakeCatalog("orders", "items")
AUTO = ParseOptions(dialect="sqlite", catalog=CATALOG)
PREFIX = ParseOptions(dialect="sqlite", catalog=CATALOG, routing="prefix")
NO_DATASOURCE = ParseOptions()


def parse(text: str, options: ParseOptions = AUTO) -> stmt.Statement:
    return parse_statement(text, options)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how many orders per country?", stmt.Question("how many orders per country?")),
        ("  padded question ;  ", stmt.Question("padded question ;")),
        ("SELECT 1", stmt.Probe((stmt.ProbeItem(stmt.ProbeKind.NUMBER, "1"),))),
        (
            "select 'x' as probe, true, null",
            stmt.Probe(
                (
                    stmt.ProbeItem(stmt.ProbeKind.STRING, "x", "probe"),
                    stmt.ProbeItem(stmt.ProbeKind.BOOLEAN, "true"),
                    stmt.ProbeItem(stmt.ProbeKind.NULL),
                )
            ),
        ),
        (
            "SELECT -1.5e3 x, current_database(), version(), current_date",
            stmt.Probe(
                (
                    stmt.ProbeItem(stmt.ProbeKind.NUMBER, "-1.5e3", "x"),
                    stmt.ProbeItem(stmt.ProbeKind.CURRENT_DATABASE),
                    stmt.ProbeItem(stmt.ProbeKind.VERSION),
                    stmt.ProbeItem(stmt.ProbeKind.CURRENT_DATE),
                )
            ),
        ),
        ("USE `sales`", stmt.UseDatabase("sales")),
        ("use foo;", stmt.UseDatabase("foo")),
        ("Use the orders table to find late ones", stmt.Question("Use the orders table to find late ones")),
        ("SET", stmt.SetStatement()),
        ("set kyuubi.engine.data.agent.model", stmt.SetStatement("kyuubi.engine.data.agent.model")),
        ("SET a.b = gpt-4o mini ;", stmt.SetStatement("a.b", "gpt-4o mini")),
        ("SET k=", stmt.SetStatement("k", "")),
        ("Set up a weekly report", stmt.Question("Set up a weekly report")),
        ("SHOW SCHEMAS", stmt.ShowSchemas()),
        ("show databases like 'a*|b'", stmt.ShowSchemas("a*|b")),
        ("SHOW TABLES", stmt.ShowTables()),
        ("SHOW TABLES IN `db` LIKE 'order*'", stmt.ShowTables("db", "order*")),
        ("show tables from db 'x*';", stmt.ShowTables("db", "x*")),
        ("SHOW CREATE TABLE db.t", stmt.ShowCreateTable("db", "t")),
        ("SHOW RUNS", stmt.ShowRuns()),
        ("SHOW RUNS ALL LIMIT 5", stmt.ShowRuns(True, 5)),
        ("show conversations limit 3", stmt.ShowConversations(3)),
        ("show me the orders of last week", stmt.Question("show me the orders of last week")),
        ("DESCRIBE db.orders", stmt.DescribeTable("db", "orders")),
        ("DESC FORMATTED `t`", stmt.DescribeTable(None, "t")),
        ("describe extended table t", stmt.DescribeTable(None, "t")),
        ("DESCRIBE QUERY SELECT * FROM orders;", stmt.DescribeQuery("SELECT * FROM orders")),
        ("describe query", stmt.DescribeTable(None, "query")),
        ("SELECT * FROM orders LIMIT 200", stmt.SqlQuery("SELECT * FROM orders LIMIT 200")),
        ("-- a comment\nSELECT id FROM orders;", stmt.SqlQuery("SELECT id FROM orders")),
        (
            "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
            stmt.SqlQuery("WITH x AS (SELECT 1 AS a) SELECT * FROM x"),
        ),
        ("(SELECT 1) UNION (SELECT 2)", stmt.SqlQuery("(SELECT 1) UNION (SELECT 2)")),
        ("SELECT 1 + 1", stmt.SqlQuery("SELECT 1 + 1")),
        ("EXPLAIN QUERY PLAN SELECT * FROM orders", stmt.SqlQuery("EXPLAIN QUERY PLAN SELECT * FROM orders")),
        (
            "Select the five best customers by revenue",
            stmt.Question("Select the five best customers by revenue"),
        ),
        ("select everything", stmt.Question("select everything")),
        ("SELECT * FROM no_such_table", stmt.Question("SELECT * FROM no_such_table")),
        (
            "WITH x AS (SELECT 1) SELECT * FROM x, nope",
            stmt.Question("WITH x AS (SELECT 1) SELECT * FROM x, nope"),
        ),
        ("SELECT * INTO copy FROM orders", stmt.Question("SELECT * INTO copy FROM orders")),
        ("EXPLAIN ANALYZE SELECT * FROM orders", stmt.Question("EXPLAIN ANALYZE SELECT * FROM orders")),
        ("explain why sales dropped", stmt.Question("explain why sales dropped")),
        ("SELECT 1; SELECT 2", stmt.Question("SELECT 1; SELECT 2")),
        (
            "SELECT * FROM (quantity per customer) AS virtual_table LIMIT 1",
            stmt.BiWrapper("quantity per customer", alias="virtual_table", limit=1),
        ),
        ("SELECT COUNT(*) AS n FROM (q) t", stmt.BiWrapper("q", count=True, count_alias="n", alias="t")),
        (
            "select count(1) from ( a (nested) question ) t;",
            stmt.BiWrapper("a (nested) question", count=True, alias="t"),
        ),
        ("SELECT b, `A` FROM (q) x", stmt.BiWrapper("q", ("b", "A"), alias="x")),
        ("SELECT * FROM (__sql: SELECT 1) t", stmt.BiWrapper("__sql: SELECT 1", alias="t")),
        ("SELECT a FROM (q) t WHERE a > 1", stmt.UnsupportedWrapper("SELECT a FROM (q) t WHERE a > 1")),
        ("SELECT * FROM (SELECT * FROM orders) t", stmt.SqlQuery("SELECT * FROM (SELECT * FROM orders) t")),
        ("__approve:abc", stmt.Approval("abc", True)),
        ("__APPROVE:abc;", stmt.Approval("abc", True)),
        ("__deny:abc  too risky ;", stmt.Approval("abc", False, "too risky")),
        ("__attach:run-1", stmt.Attach("run-1")),
        ("__sql: SELECT 1;;", stmt.Passthrough("SELECT 1")),
        ("__sql: PRAGMA table_info(orders)", stmt.Passthrough("PRAGMA table_info(orders)")),
    ],
)
def test_each_form_parses_to_its_typed_statement(text: str, expected: stmt.Statement) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("__approve:   ", "requestId cannot be empty"),
        ("__deny:;", "requestId cannot be empty"),
        ("__attach:", "run id"),
        ("__attach:a b", "run id"),
        ("__sql:  ;", "needs a query"),
        ("__sql: SELECT " + "1+" * SQL_BUDGET, f"at most {SQL_BUDGET} characters"),
        ("SET =x", "SET needs a key"),
        ("DESCRIBE SELECT * FROM orders", "DESCRIBE takes a table name"),
        ("Describe the sales trend of last year", "DESCRIBE takes a table name"),
        ("DESCRIBE QUERY DELETE FROM orders", "DESCRIBE QUERY takes one read-only query"),
        ("x" * (4 * SQL_BUDGET + 1), "statement.max.length"),
    ],
)
def test_malformed_control_forms_are_clear_errors(text: str, message: str) -> None:
    options = ParseOptions(dialect="sqlite", catalog=CATALOG, max_length=4 * SQL_BUDGET)
    with pytest.raises(InvalidStatementError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text, options)


def test_sql_routing_needs_auto_and_a_catalog() -> None:
    for options in (PREFIX, NO_DATASOURCE):
        assert parse("SELECT * FROM orders LIMIT 200", options) == stmt.Question(
            "SELECT * FROM orders LIMIT 200"
        )
        assert parse("__sql: SELECT * FROM orders", options) == stmt.Passthrough("SELECT * FROM orders")
        assert parse("SHOW TABLES", options) == stmt.ShowTables()
    # a wrapper around SQL is SQL under auto, and a wrapper around a question in prefix mode
    assert parse("SELECT * FROM (SELECT * FROM orders) t", PREFIX) == stmt.BiWrapper(
        "SELECT * FROM orders", alias="t"
    )


def test_sql_beyond_the_parse_budget_is_a_question() -> None:
    too_long = "SELECT " + ", ".join(["id"] * (SQL_BUDGET // 4)) + " FROM orders"
    too_many_tokens = "SELECT " + ", ".join(["id"] * (SQL_TOKEN_BUDGET // 2 + 1)) + " FROM orders"
    assert len(too_many_tokens) < SQL_BUDGET
    lookups = CATALOG.lookups
    assert parse(too_long) == stmt.Question(too_long)
    assert parse(too_many_tokens) == stmt.Question(too_many_tokens)
    assert CATALOG.lookups == lookups  # neither parsed nor looked up
    with pytest.raises(InvalidStatementError, match="at most 4096 tokens"):
        parse("DESCRIBE QUERY " + too_many_tokens)


def test_every_statement_type_has_exactly_one_route() -> None:
    StatementRouter()  # raises when a stmt.Statement type has no route or two


# --- round trip ---------------------------------------------------------------------------------
_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_words = st.text("abcdefgh_ .;=*'`\"\\()-", min_size=0, max_size=12)
_numbers = st.integers(min_value=0, max_value=10**12)


def _rendered() -> st.SearchStrategy[str]:
    """Texts rendered from typed statements with awkward names, strings and numbers."""
    probe_items = st.one_of(
        st.builds(
            lambda n, a: stmt.ProbeItem(stmt.ProbeKind.NUMBER, str(n), a),
            st.integers(-(10**20), 10**20),
            st.none() | _names,
        ),
        st.builds(
            lambda s, a: stmt.ProbeItem(stmt.ProbeKind.STRING, s, a), _names | st.just(""), st.none() | _names
        ),
        st.builds(lambda b: stmt.ProbeItem(stmt.ProbeKind.BOOLEAN, b), st.sampled_from(["true", "false"])),
        st.sampled_from(
            [
                stmt.ProbeItem(kind)
                for kind in stmt.ProbeKind
                if kind.value not in ("number", "string", "boolean")
            ]
        ),
    )
    statements = st.one_of(
        st.builds(stmt.UseDatabase, _names),
        st.builds(stmt.ShowSchemas, st.none() | _names),
        st.builds(stmt.ShowTables, st.none() | _names, st.none() | _names),
        st.builds(stmt.ShowCreateTable, st.none() | _names, _names),
        st.builds(stmt.DescribeTable, st.none() | _names, _names),
        st.builds(stmt.ShowRuns, st.booleans(), st.none() | _numbers),
        st.builds(stmt.ShowConversations, st.none() | _numbers),
        st.builds(stmt.Probe, st.lists(probe_items, min_size=1, max_size=3).map(tuple)),
        st.builds(stmt.Approval, _names, st.booleans(), _words),
        st.builds(stmt.Attach, _names),
        st.builds(stmt.SetStatement, st.none() | _names, st.none() | _words),
        st.builds(stmt.Passthrough, _words | _names),
        st.builds(
            lambda column, number, table: stmt.SqlQuery(f"SELECT {column} FROM {table} WHERE id > {number}"),
            st.sampled_from(["*", "id", "COUNT(*) AS n", "'a;b' AS s"]),
            _numbers,
            st.sampled_from(["orders", "items", "main.orders", "nope"]),
        ),
        st.builds(lambda words: stmt.DescribeQuery(f"SELECT id FROM orders -- {words}"), _words),
        st.builds(lambda words: stmt.UnsupportedWrapper(f"SELECT a + 1 FROM ({words}) t"), _words),
        st.builds(
            stmt.BiWrapper,
            _words,
            st.lists(_names, max_size=2).map(tuple),
            st.booleans(),
            st.none() | _names,
            st.none() | _names,
            st.none() | _numbers,
        ),
    )
    return statements.map(lambda statement: statement.render())


_PREFIXES = [
    "", "set ", "SET ", "use ", "show tables ", "show schemas like ", "show create table ", "describe ",
    "desc query ", "select ", "SELECT * FROM (", "select count(*) from (", "__approve:", "__deny:",
    "__attach:", "__sql:", "explain ", "with ", "SHOW RUNS ", "(", "-- c\n",
]  # fmt: skip
_texts = st.one_of(
    _rendered(),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(_PREFIXES), _words | st.text(max_size=20)),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, dialect=st.sampled_from(["sqlite", "postgres", "mysql"]))
@example(text="__approve:a\t;", dialect="sqlite")
@example(text="SET a=b\u3000;\u3000;", dialect="sqlite")
@example(text="SELECT 99999999999999999999999 AS `x``y`", dialect="sqlite")
@example(text="SELECT * FROM (q) AS `a``b` LIMIT 3", dialect="sqlite")
@example(text="SELECT * FROM orders WHERE customer = 'ada'", dialect="postgres")
def test_every_parsed_statement_renders_back_to_an_equal_one(text: str, dialect: str) -> None:
    options = ParseOptions(dialect=dialect, catalog=CATALOG)
    try:
        statement = parse(text, options)
    except InvalidStatementError:
        return
    rendered = statement.render()
    assert parse(rendered, options) == statement, rendered


# --- bounded work -------------------------------------------------------------------------------
MIB = 1 << 20


def _fill(prefix: str, unit: str, suffix: str = "", size: int = MIB) -> str:
    return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix


# The attacks of issue 11 at full size, and their relatives: each must be decided at once.
ATTACKS: dict[str, Callable[[int], str]] = {
    "set with a run of spaces": lambda n: "set a" + " " * (n - 6) + "b",
    "use with a long name": lambda n: "use " + "a" * (n - 4),
    "use with spaces": lambda n: _fill("use ", "a ", size=n),
    "select from (": lambda n: _fill("", "select from (", size=n),
    "a question": lambda n: _fill("", "how many orders were placed per country? ", size=n),
    "__sql: SELECT 1+1+...": lambda n: _fill("__sql: SELECT ", "1+", "1", size=n),
    "SELECT 1+1+...": lambda n: _fill("SELECT ", "1+", "1", size=n),
    "a wrapper around a long question": lambda n: _fill("SELECT * FROM (", "q ", ") t", size=n),
    "set with trailing semicolons": lambda n: _fill("set a=b", "; ", size=n),
    "describe a long name": lambda n: _fill("describe ", "a.", size=n),
    "show with many words": lambda n: _fill("show tables ", "x ", size=n),
    "approve with a long reason": lambda n: _fill("__approve:id ", "no ", size=n),
    "open parentheses": lambda n: _fill("", "(", size=n),
    "comment lines": lambda n: _fill("", "--\n", size=n),
}


def _best_time(text: str, repeats: int = 3) -> float:
    """The least CPU time of this thread a parse took: a busy machine's other processes and the
    test process's other threads do not count."""
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        try:
            parse(text)
        except InvalidStatementError:
            pass
        best = min(best, time.thread_time() - started)
    return best


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    for text in ("SELECT 1", "SELECT * FROM orders", "SELECT * FROM (q) t", "USE x", "SHOW TABLES"):
        parse(text)  # load sqlglot's dialects once, outside the timings


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_one_mib_statement_is_decided_within_100_ms(name: str) -> None:
    text = ATTACKS[name](MIB)
    assert len(text) <= MIB
    elapsed = _best_time(text)
    assert elapsed < 0.1, f"{name}: {elapsed * 1000:.1f} ms"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_classification_time_grows_linearly(name: str) -> None:
    """From 64 KiB to 1 MiB (16x) the time may grow 16x, with generous slack for noise."""
    small = _best_time(ATTACKS[name](MIB // 16), repeats=5)
    large = _best_time(ATTACKS[name](MIB), repeats=5)
    assert large <= 16 * 4 * small + 0.005, f"{name}: {small * 1000:.2f} ms -> {large * 1000:.2f} ms"


def test_sql_within_the_budget_parses_in_linear_time() -> None:
    def query(columns: int) -> str:
        return "SELECT " + ", ".join(f"id + {i}" for i in range(columns)) + " FROM orders"

    small, large = query(100), query(800)
    assert len(large) <= SQL_BUDGET and isinstance(parse(large), stmt.SqlQuery)
    ratio = len(large) / len(small)
    assert _best_time(large, repeats=2) <= ratio * 4 * _best_time(small, repeats=2) + 0.01
