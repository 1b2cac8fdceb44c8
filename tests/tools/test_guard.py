"""The sqlglot read-only guard on its own: table-driven accepts and rejects per dialect."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.tools.guard import MUTATION_HINT, ReadOnlyViolationError, check_read_only
from engine.tools.guard_rules import DENIED_FUNCTIONS
from tests.tools.policy import pg_policy

POLICY = pg_policy()  # the PostgreSQL reads below call built-ins this catalog vouches for

DIALECTS = ["sqlite", "postgres", "mysql", "hive", "trino", "duckdb", None]

READS = [
    (d, sql)
    for d in DIALECTS
    for sql in (
        "SELECT 1",
        "select a, b from t where a > 1 order by b desc limit 10",
        "SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
        "WITH x AS (SELECT id FROM t) SELECT * FROM x",
        "SELECT id, ROW_NUMBER() OVER (PARTITION BY g ORDER BY v) AS rn FROM t",
        "SELECT 1 UNION ALL SELECT 2",
        "SELECT * FROM t WHERE id IN (SELECT id FROM u) AND name LIKE 'a%'",
        "SELECT CASE WHEN a IS NULL THEN 'none' ELSE 'some' END FROM t",
        "SELECT COUNT(DISTINCT a), MAX(b), COALESCE(c, 0) FROM t",
        "  SELECT 1 ;  ",
        "-- a comment\nSELECT 1",
        "SELECT 'DELETE FROM t; DROP TABLE t' AS text",
        "SELECT 1 /* INSERT INTO t VALUES (1) */",
        "SELECT\t1\r\n",
    )
] + [
    ("postgres", "EXPLAIN SELECT * FROM t"),
    ("postgres", "EXPLAIN (FORMAT JSON, COSTS OFF) SELECT * FROM t"),
    ("postgres", "SHOW search_path"),
    ("postgres", "TABLE t"),
    ("postgres", "VALUES (1, 'a'), (2, 'b')"),
    ("postgres", "SELECT $$dollar; DELETE FROM t$$, E'it\\'s'"),
    ("postgres", "SELECT now() - interval '1 day', date_trunc('month', d) FROM t"),
    ("postgres", "SELECT x::int, y::text FROM t"),
    ("postgres", "SELECT a FROM t FETCH FIRST 5 ROWS ONLY"),
    ("mysql", "SHOW TABLES"),
    ("mysql", "SHOW COLUMNS FROM t"),
    ("mysql", "DESCRIBE t"),
    ("mysql", "DESC t name"),
    ("mysql", "EXPLAIN SELECT * FROM t"),
    ("mysql", "EXPLAIN FORMAT=JSON SELECT * FROM t"),
    ("mysql", "SELECT `weird name` FROM `t` # trailing comment"),
    ("mysql", "SELECT 1 -- spaced comment"),
    ("mysql", "SELECT DATE_FORMAT(d, '%Y-%m'), IFNULL(a, 0) FROM t"),
    ("sqlite", "EXPLAIN QUERY PLAN SELECT * FROM t"),
    ("sqlite", "PRAGMA table_info(t)"),
    ("sqlite", "PRAGMA main.index_list('t')"),
    ("sqlite", "SELECT * FROM pragma_table_info('t')"),
    ("sqlite", "SELECT strftime('%Y', d), date('now'), [col] FROM t"),
    ("sqlite", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c"),
    ("hive", "DESCRIBE FORMATTED t"),
    ("hive", "SHOW TABLES"),
    ("trino", "SHOW CATALOGS"),
    ("trino", "DESCRIBE t"),
    ("duckdb", "DESCRIBE SELECT 1"),
    ("duckdb", "FROM t"),
]

WRITES = [
    # plain writes and DDL
    ("sqlite", "DELETE FROM t"),
    ("sqlite", "INSERT INTO t VALUES (1)"),
    ("sqlite", "UPDATE t SET a = 1"),
    ("sqlite", "DROP TABLE t"),
    ("sqlite", "CREATE TABLE x (a int)"),
    ("sqlite", "REPLACE INTO t VALUES (1)"),
    ("postgres", "TRUNCATE t"),
    ("postgres", "ALTER TABLE t ADD COLUMN z int"),
    ("mysql", "RENAME TABLE t TO u"),
    ("postgres", "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE"),
    ("postgres", "GRANT ALL ON t TO public"),
    ("postgres", "CREATE INDEX i ON t (a)"),
    # writing CTEs and Kyuubi #7412
    ("postgres", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
    ("postgres", "WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM u"),
    ("postgres", "WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1"),
    ("postgres", "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a"),
    ("mysql", "WITH a AS (SELECT 1) DELETE FROM t"),
    ("hive", "FROM t INSERT OVERWRITE TABLE u SELECT *"),
    ("hive", "FROM t INSERT INTO TABLE u SELECT a"),
    (None, "FROM t INSERT INTO u SELECT a"),
    (None, "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"),
    # SELECT INTO, OUTFILE, DUMPFILE, locking reads
    ("postgres", "SELECT * INTO newt FROM t"),
    ("mysql", "SELECT * FROM t INTO OUTFILE '/tmp/x'"),
    ("mysql", "SELECT a INTO DUMPFILE '/tmp/x' FROM t"),
    ("mysql", "SELECT 1 INTO @v"),
    ("postgres", "SELECT * FROM t FOR UPDATE"),
    ("postgres", "SELECT * FROM t FOR SHARE"),
    ("postgres", "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED"),
    ("mysql", "SELECT * FROM t LOCK IN SHARE MODE"),
    ("mysql", "SELECT * FROM t FOR UPDATE"),
    # EXPLAIN ANALYZE
    ("postgres", "EXPLAIN ANALYZE DELETE FROM t"),
    ("postgres", "explain analyse select 1"),
    ("postgres", "EXPLAIN (ANALYZE) DELETE FROM t"),
    ("postgres", "EXPLAIN (COSTS OFF, ANALYZE TRUE) SELECT 1"),
    ("postgres", "EXPLAIN DELETE FROM t"),
    ("mysql", "EXPLAIN ANALYZE SELECT 1"),
    ("mysql", "DESCRIBE ANALYZE SELECT 1"),
    ("trino", "EXPLAIN ANALYZE SELECT 1"),
    ("sqlite", "EXPLAIN DELETE FROM t"),
    # other statements
    ("postgres", "COPY t TO '/tmp/x'"),
    ("postgres", "COPY (SELECT 1) TO PROGRAM 'id'"),
    ("duckdb", "COPY t TO 'x.csv'"),
    ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x"),
    ("sqlite", "DETACH DATABASE x"),
    ("sqlite", "VACUUM"),
    ("sqlite", "VACUUM INTO '/tmp/x.db'"),
    ("sqlite", "PRAGMA journal_mode = WAL"),
    ("sqlite", "PRAGMA user_version = 5"),
    ("sqlite", "PRAGMA writable_schema = ON"),
    ("sqlite", "PRAGMA optimize"),
    ("sqlite", "REINDEX"),
    ("sqlite", "ANALYZE"),
    ("postgres", "SET search_path = x"),
    ("postgres", "SET ROLE postgres"),
    ("postgres", "RESET ALL"),
    ("mysql", "SET @a = 1"),
    ("mysql", "SET GLOBAL read_only = 0"),
    ("postgres", "CALL p()"),
    ("mysql", "CALL p()"),
    ("postgres", "DO $$ BEGIN DELETE FROM t; END $$"),
    ("mysql", "DO GET_LOCK('x', 1)"),
    ("postgres", "LOCK TABLE t"),
    ("mysql", "LOCK TABLES t WRITE"),
    ("mysql", "HANDLER t OPEN"),
    ("postgres", "BEGIN"),
    ("postgres", "COMMIT"),
    ("postgres", "ROLLBACK"),
    ("mysql", "START TRANSACTION"),
    ("postgres", "PREPARE p AS DELETE FROM t"),
    ("postgres", "EXECUTE p"),
    ("postgres", "DISCARD ALL"),
    ("postgres", "LISTEN c"),
    ("postgres", "NOTIFY c"),
    ("postgres", "REFRESH MATERIALIZED VIEW v"),
    ("postgres", "CHECKPOINT"),
    ("postgres", "CLUSTER t"),
    ("postgres", "REINDEX TABLE t"),
    ("postgres", "SECURITY LABEL ON TABLE t IS 'x'"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t"),
    ("mysql", "FLUSH TABLES"),
    ("mysql", "KILL 1"),
    ("mysql", "OPTIMIZE TABLE t"),
    ("mysql", "INSTALL PLUGIN x SONAME 'x.so'"),
    ("duckdb", "INSTALL httpfs"),
    ("duckdb", "LOAD httpfs"),
    ("duckdb", "ATTACH 'x.db'"),
    ("sqlite", "SHOW TABLES"),
    ("hive", "INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT * FROM t"),
    ("hive", "SELECT TRANSFORM(a) USING 'rm -rf /' FROM t"),
    ("trino", "CALL system.sync_partition_metadata('a', 'b', 'FULL')"),
    ("trino", "USE x.y"),
    ("mysql", "USE mysql"),
    # side-effecting functions
    ("postgres", "SELECT setval('seq', 100)"),
    ("postgres", "SELECT nextval('seq')"),
    ("postgres", "SELECT pg_catalog.setval('seq', 1)"),
    ("postgres", "SELECT pg_terminate_backend(1)"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')"),
    ("postgres", "SELECT lo_import('/etc/passwd')"),
    ("postgres", "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS r(a int)"),
    ("postgres", "SELECT pg_advisory_lock(1)"),
    ("postgres", "SELECT set_config('search_path', 'x', false)"),
    ("postgres", "SELECT query_to_xml('DELETE FROM t', true, true, '')"),
    ("postgres", "SELECT 1 WHERE pg_notify('c', 'x') IS NULL"),
    ("postgres", "SELECT * FROM t WHERE a = (SELECT nextval('seq'))"),
    ("postgres", "SELECT NEXTVAL('seq')"),
    ("mysql", "SELECT GET_LOCK('a', 10)"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')"),
    ("mysql", "SELECT @a := 1"),
    ("mysql", "SELECT RELEASE_ALL_LOCKS()"),
    ("sqlite", "SELECT load_extension('/tmp/x.so')"),
    ("sqlite", "SELECT writefile('/tmp/x', 'y')"),
    ("hive", "SELECT reflect('java.lang.Runtime', 'getRuntime')"),
    ("duckdb", "SELECT * FROM read_csv('/etc/passwd')"),
    ("duckdb", "SELECT * FROM query('DELETE FROM t')"),
    (None, "SELECT pg_read_file('/etc/passwd')"),
    (None, "SELECT load_file('/x')"),
    ("postgres", "SELECT U&\"\\0073etval\"('seq', 5)"),
    ("postgres", 'SELECT "pg_catalog"."setval"(\'seq\', 5)'),
    ("postgres", "SELECT * FROM setval('seq', 5)"),
    ("postgres", "SELECT * FROM ROWS FROM (nextval('seq'))"),
    ("mysql", "SELECT GET_LOCK/**/('a', 1)"),
    ("mysql", "SELECT `get_lock`('a', 1)"),
    ("sqlite", "SELECT [load_extension]('x')"),
    ("mysql", "SELECT 1 /*m! INTO OUTFILE '/tmp/x' */"),
    # stacking, comments and characters
    ("postgres", "SELECT 1; DELETE FROM t"),
    ("postgres", "SELECT 1;DELETE FROM t;"),
    ("mysql", "SELECT 1; DROP TABLE t"),
    ("sqlite", "SELECT 1; ATTACH '/tmp/x' AS x"),
    ("postgres", "/* c */ DELETE /* c */ FROM t"),
    ("postgres", "-- x\nDELETE FROM t"),
    ("mysql", "SELECT 1 /*! INTO OUTFILE '/tmp/x' */"),
    ("mysql", "SELECT 1 /*!50000 ; DROP TABLE t */"),
    ("mysql", "SELECT 1 /*M! INTO OUTFILE '/tmp/x' */"),
    ("mysql", "SELECT 1 /* /* */ INTO OUTFILE '/tmp/x' -- */"),
    ("postgres", "SELECT 1 /* /* */ ; DELETE FROM t; /* */ */"),
    ("mysql", "SELECT 1 --1 INTO OUTFILE '/tmp/x'"),
    ("sqlite", "SELECT 1\u00a0; DELETE FROM t"),
    ("postgres", "DELETE\u2003FROM t"),
    ("postgres", "SELECT\u200b1"),
    ("postgres", "SELECT 1\ufeff"),
    ("mysql", "SELECT 1\u3000FROM t"),
    ("postgres", "SELECT\x001"),
    ("postgres", "SeLeCt * InTo x FrOm t"),
    ("postgres", "dElEtE fRoM t"),
    ("postgres", "(DELETE FROM t)"),
    ("postgres", "WITH x AS (SELECT 1) SELECT * INTO y FROM x"),
    # empty and unparseable
    ("postgres", ""),
    ("postgres", "   \n\t "),
    ("postgres", "-- only a comment"),
    ("postgres", ";;"),
    ("mysql", "SELEC 1"),
    ("postgres", "SELECT 'unterminated"),
    ("postgres", "SELECT (1"),
    ("sqlite", "SELECT * FROM"),
]


@pytest.mark.parametrize(("dialect", "sql"), READS)
def test_reads_pass(dialect: str | None, sql: str) -> None:
    check_read_only(sql, dialect, POLICY)


@pytest.mark.parametrize(("dialect", "sql"), WRITES)
def test_writes_rejected(dialect: str | None, sql: str) -> None:
    with pytest.raises(ReadOnlyViolationError) as info:
        check_read_only(sql, dialect, POLICY)
    message = str(info.value)
    assert message and "\n" not in message
    if sql.strip(" \n\t;-") and "only a comment" not in sql:
        assert "run_mutation_query" in message


def test_statement_returned_is_the_checked_span() -> None:
    verdict = check_read_only("  -- lead\n SELECT 1 ;; ", "postgres")
    assert verdict.statement == "SELECT 1"
    assert verdict.kind == "query"


def test_rejection_mentions_the_mutation_tool() -> None:
    with pytest.raises(ReadOnlyViolationError) as info:
        check_read_only("DELETE FROM t", "postgres")
    assert MUTATION_HINT in str(info.value)
    assert info.value.sqlstate == "42000"


def test_every_deny_listed_function_is_rejected() -> None:
    checked = 0
    for dialect, names in DENIED_FUNCTIONS.items():
        for name in names:
            with pytest.raises(ReadOnlyViolationError):
                check_read_only(f"SELECT {name}('x')", dialect, POLICY)
            with pytest.raises(ReadOnlyViolationError):
                check_read_only(f"SELECT {name.upper()}('x')", None)
            checked += 1
    assert checked > 100


_WRITE_TAILS = st.sampled_from(
    ["DELETE FROM t", "DROP TABLE t", "INSERT INTO t VALUES (1)", "UPDATE t SET a = 1", "ATTACH 'x' AS y"]
)
_GLUE = st.sampled_from([";", "; ", ";\n", " ;/* x */", ";-- c\n", "\n;\n"])


@settings(max_examples=200, deadline=None)
@given(
    dialect=st.sampled_from(DIALECTS),
    head=st.sampled_from(
        ["SELECT 1", "WITH a AS (SELECT 1) SELECT * FROM a", "EXPLAIN SELECT 1", "VALUES (1)"]
    ),
    glue=_GLUE,
    tail=_WRITE_TAILS,
)
def test_stacked_writes_never_pass(dialect: str | None, head: str, glue: str, tail: str) -> None:
    with pytest.raises(ReadOnlyViolationError):
        check_read_only(head + glue + tail, dialect)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Any input either passes as a read or is rejected cleanly; nothing else escapes."""
    try:
        verdict = check_read_only(text, "postgres", POLICY)
    except ReadOnlyViolationError:
        return
    assert verdict.kind in {"query", "explain", "describe", "show", "pragma"}
