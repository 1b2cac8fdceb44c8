"""The read-only guard's function, relation and SHOW rules with policies built in the test (no
database): PostgreSQL's volatility contract and its fail-closed cases, the token net, and the
MySQL/MariaDB allow-lists."""

from __future__ import annotations

import pytest

from engine.common.read_policy import FunctionPolicy, ReadPolicy, Volatility
from engine.tools.guard import ReadOnlyViolationError, check_read_only
from engine.tools.guard_rules import PG_DENIED_RELATIONS, PG_REVIEWED_VOLATILE
from tests.tools.policy import UNAVAILABLE, pg_policy

POLICY = pg_policy(("app", "app_touch", "v"), ("app", "app_pure", "i"), ("app", "Mixed", "s"))


def _passes(sql: str, policy: ReadPolicy | None = POLICY, dialect: str = "postgres") -> None:
    check_read_only(sql, dialect, policy)


def _refused(sql: str, policy: ReadPolicy | None = POLICY, dialect: str = "postgres") -> str:
    with pytest.raises(ReadOnlyViolationError) as info:
        check_read_only(sql, dialect, policy)
    message = str(info.value)
    assert "run_mutation_query" in message and "\n" not in message
    return message


# --- the policy value ---------------------------------------------------------------------------
def test_policy_keeps_the_worst_volatility_per_schema() -> None:
    policy = FunctionPolicy.from_catalog(
        [("pg_catalog", "f", "is"), ("app", "f", "i"), ("app", "f", "v"), ("pg_catalog", "g", "?")], "t"
    )
    assert policy.volatility("f", "pg_catalog") is Volatility.STABLE
    assert policy.volatility("f", "app") is Volatility.VOLATILE  # repeated rows merge
    assert policy.volatility("f") is Volatility.VOLATILE  # unqualified: every schema counts
    assert policy.volatility("g") is Volatility.VOLATILE  # an unknown code fails closed
    assert policy.volatility("h") is None and policy.volatility("f", "other") is None
    assert policy.schemas("f") == {"pg_catalog", "app"} and len(policy) == 2
    assert policy.available and not FunctionPolicy.unavailable("down").available
    assert FunctionPolicy.unavailable("down").source == "down"


# --- PostgreSQL: the catalog's contract ---------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*), sum(a), max(b), now(), lower(c) FROM t",
        "SELECT date_trunc('month', d), to_char(d, 'YYYY') FROM t",
        "SELECT row_number() OVER (ORDER BY a), lag(a) OVER (ORDER BY a) FROM t",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT coalesce(a, 1), nullif(a, 2), greatest(a, b), CAST(a AS int), a::int FROM t",
        "SELECT extract(year FROM d), date_part('year', d), substring(c FROM 1 FOR 2), trim(c) FROM t",
        "SELECT string_agg(c, ',' ORDER BY c), array_agg(a) FROM t",
        "SELECT current_date, current_timestamp, localtimestamp",
        "SELECT random(), pg_catalog.random(), clock_timestamp(), gen_random_uuid()",
        'SELECT pg_catalog.lower(c), "lower"(c), app.app_pure(), app."Mixed"() FROM t',
        "SELECT current_setting('work_mem'), current_setting('TimeZone', true)",
        "SELECT * FROM t TABLESAMPLE SYSTEM (10)",
        "SELECT a ->> 'k', a @> b, ARRAY[1, 2], a ~ 'x' FROM t",
        "SELECT 'pg_authid', $$pg_shadow$$, 'nextval(1)' FROM t",
        "EXPLAIN SELECT lower(c) FROM t",
    ],
)
def test_calls_the_catalog_vouches_for_pass(sql: str) -> None:
    _passes(sql)


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELECT app_touch()", "volatile"),
        ("SELECT app.app_touch()", "volatile"),
        ("SELECT * FROM app.app_touch()", "volatile"),
        ("SELECT setseed(0.5)", "volatile"),
        ("SELECT no_such_function(1)", "no function named no_such_function"),
        ("SELECT app.lower(c) FROM t", "no function named app.lower"),
        ('SELECT "LOWER"(c) FROM t', "no function named LOWER"),
        ('SELECT app."mixed"()', "no function named app.mixed"),
        ("SELECT db.pg_catalog.lower(c) FROM t", "without a database name"),
        ("SELECT * FROM db.pg_catalog.generate_series(1, 2)", "without a database name"),
        ("SELECT public.coalesce(a, 1) FROM t", "no function named public.coalesce"),
        ('SELECT "coalesce"(a, 1) FROM t', "no function named coalesce"),
        ("SELECT app.random()", "no function named app.random"),
        ("SELECT current_setting('data_directory')", "data_directory"),
        ("SELECT current_setting('primary_conninfo', true)", "primary_conninfo"),
        ("SELECT current_setting('app.api_key')", "app.api_key"),
        ("SELECT current_setting(c) FROM t", "string literal"),
        ("EXPLAIN SELECT app_touch()", "volatile"),
        ("SELECT 1 FROM t WHERE a IN (SELECT app_touch())", "volatile"),
    ],
)
def test_calls_the_catalog_does_not_vouch_for_are_refused(sql: str, why: str) -> None:
    assert why in _refused(sql)


def test_now_is_checked_as_now_not_as_sqlglots_current_timestamp() -> None:
    without_now = ReadPolicy(FunctionPolicy.from_catalog([("pg_catalog", "count", "i")], "t"))
    _passes("SELECT current_timestamp, count(*) FROM t", without_now)
    assert "no function named now" in _refused("SELECT now()", without_now)


def test_a_name_is_refused_when_any_overload_is_volatile() -> None:
    shadowed = pg_policy(("app", "lower", "v"), ("app", "string_agg", "v"))
    assert "volatile" in _refused("SELECT lower(c) FROM t", shadowed)
    _passes("SELECT pg_catalog.lower(c) FROM t", shadowed)  # that schema's overloads only
    assert "volatile" in _refused("SELECT app.lower(c) FROM t", shadowed)
    # string_agg keeps no name position in the tree: the token net finds it
    assert "volatile" in _refused("SELECT string_agg(c, ',') FROM t", shadowed)


def test_a_reviewed_volatile_name_needs_pg_catalog_and_no_volatile_namesake() -> None:
    assert PG_REVIEWED_VOLATILE >= {"random", "clock_timestamp", "gen_random_uuid", "timeofday"}
    assert "volatile" in _refused("SELECT random()", pg_policy(("app", "random", "v")))
    _passes("SELECT random()", pg_policy(("app", "random", "i")))
    elsewhere_only = ReadPolicy(FunctionPolicy.from_catalog([("app", "random", "v")], "t"))
    assert "volatile" in _refused("SELECT random()", elsewhere_only)


@pytest.mark.parametrize("policy", [None, UNAVAILABLE], ids=["no-policy", "unavailable"])
def test_without_the_catalog_named_calls_are_refused(policy: ReadPolicy | None) -> None:
    message = _refused("SELECT count(*) FROM t", policy)
    assert "cannot be vouched for" in message
    if policy is UNAVAILABLE:
        assert "could not be read (test)" in message
    assert "cannot be vouched for" in _refused("SELECT random()", policy)
    assert "cannot be vouched for" in _refused("SELECT string_agg(c, ',') FROM t", policy)
    assert "cannot be vouched for" in _refused("SELECT date_part('year', d) FROM t", policy)
    # SQL syntax and operators call no function by name
    _passes(
        "SELECT coalesce(a, 1), CAST(a AS int), a::text, extract(year FROM d), substring(c FROM 1), "
        "current_date, a ->> 'k', ARRAY[1] FROM t",
        policy,
    )
    _passes("SELECT count(*) FROM t", policy, dialect="sqlite")  # other dialects use their deny-lists


# --- PostgreSQL: the token net ------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT array_agg(a, app_touch()) FROM t",  # sqlglot drops the surplus argument
        "SELECT to_char(d, 'YYYY', app_touch()) FROM t",
        "SELECT string_agg(c, ',' ORDER BY app_touch()) FROM t",
        "SELECT t.app_touch FROM t",  # attribute notation: app_touch(t)
        "SELECT (t).app_touch FROM t",
        "SELECT length(c, pg_advisory_lock(1)) FROM t",  # a deny-listed name anywhere
    ],
)
def test_the_token_net_catches_calls_the_tree_loses(sql: str) -> None:
    _refused(sql)


@pytest.mark.parametrize("relation", sorted(PG_DENIED_RELATIONS))
def test_every_denied_relation_is_refused(relation: str) -> None:
    assert relation in _refused(f"SELECT * FROM {relation}")
    assert relation in _refused(f'SELECT * FROM pg_catalog."{relation}"')
    _refused(f"SELECT * FROM {relation.upper()}")
    _refused(f"TABLE {relation}")
    _refused(f"SELECT (SELECT count(*) FROM information_schema.{relation}) FROM t")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pg_ls_logicalsnapdir()",
        "SELECT pg_catalog.pg_ls_waldir()",
        "SELECT pg_read_binary_file('x')",
        "SELECT * FROM pg_hba_file_rules()",
        "SELECT table_to_xml('pg_catalog.pg_class', true, false, '')",
        "SELECT my_schema_to_xml()",
        "SELECT pg_stat_get_activity(NULL)",
        "SELECT brin_summarize_new_values('t_brin')",
        "SELECT pg_nextoid('pg_class', 'oid', 'pg_class_oid_index')",
        "SELECT pg_replication_origin_create('x')",
        "SELECT lo_get(1)",
    ],
)
def test_file_setting_and_session_readers_are_refused_even_if_a_catalog_vouched(sql: str) -> None:
    lying = pg_policy(
        *((("pg_catalog", name, "s")) for name in ("pg_ls_waldir", "lo_get", "my_schema_to_xml"))
    )
    _refused(sql, lying)


@pytest.mark.parametrize(
    ("sql", "passes"),
    [
        ("SHOW search_path", True),
        ("SHOW TimeZone", True),
        ("SHOW TIME ZONE", True),
        ("SHOW TRANSACTION ISOLATION LEVEL", True),
        ("SHOW work_mem", True),
        ("SHOW ALL", False),
        ("SHOW hba_file", False),
        ("SHOW data_directory", False),
        ("SHOW primary_conninfo", False),
        ("SHOW archive_command", False),
        ("SHOW app.api_key", False),
        ("SHOW search_path, work_mem", False),
    ],
)
def test_postgres_show(sql: str, passes: bool) -> None:
    if passes:
        _passes(sql)
    else:
        _refused(sql)


# --- MySQL / MariaDB ----------------------------------------------------------------------------
MYSQL = ReadPolicy(default_schema="shop")


@pytest.mark.parametrize(
    "sql",
    [
        "SHOW TABLES",
        "SHOW FULL TABLES FROM shop LIKE 'o%'",
        "SHOW DATABASES",
        "SHOW SCHEMAS LIKE 'x'",
        "SHOW COLUMNS FROM t",
        "SHOW FULL FIELDS FROM t IN shop",
        "SHOW COLUMNS FROM shop.t LIKE 'a%'",
        "SHOW INDEX FROM t",
        "SHOW KEYS IN t FROM shop",
        "SHOW INDEXES FROM `t`",
        "SHOW CREATE TABLE t",
        "SHOW CREATE VIEW shop.v",
        "SHOW TABLE STATUS LIKE 't'",
        "SHOW CHARACTER SET",
        "SHOW COLLATION LIKE 'utf8%'",
        "SHOW WARNINGS",
        "DESCRIBE t",
        "DESC shop.t a",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM users",  # a table of the datasource's own database
        "SELECT 'mysql.user', `user` FROM t",
    ],
)
def test_mysql_reads_pass(sql: str) -> None:
    _passes(sql, MYSQL, "mysql")


@pytest.mark.parametrize(
    "sql",
    [
        "SHOW GRANTS",
        "SHOW GRANTS FOR CURRENT_USER",
        "SHOW CREATE USER root",
        "SHOW PROCESSLIST",
        "SHOW FULL PROCESSLIST",
        "SHOW ENGINE INNODB STATUS",
        "SHOW BINLOG EVENTS",
        "SHOW MASTER STATUS",
        "SHOW SLAVE STATUS",
        "SHOW VARIABLES",
        "SHOW STATUS",
        "SHOW PRIVILEGES",
        "SHOW",
        "SHOW TABLES WHERE GET_LOCK('x', 1)",
        "SHOW DATABASES WHERE (SELECT LOAD_FILE('/etc/passwd')) IS NOT NULL",
        "SHOW COLUMNS FROM t WHERE Field = 'a'",
        "SHOW TABLES FROM mysql",
        "SHOW TABLE STATUS IN performance_schema",
        "SHOW COLUMNS FROM mysql.user",
        "SHOW INDEX FROM user FROM mysql",
        "SHOW CREATE TABLE sys.processlist",
        "SHOW COLUMNS FROM t LIKE x",
        "DESCRIBE mysql.user",
        "SELECT * FROM mysql.user",
        "SELECT * FROM `MySQL`.`global_priv`",
        "SELECT * FROM performance_schema.events_statements_current",
        "SELECT * FROM sys.session",
        "SELECT (SELECT max(host) FROM mysql.user) FROM t",
        "SELECT * FROM information_schema.USER_PRIVILEGES",
        "SELECT * FROM INFORMATION_SCHEMA.processlist",
        "SELECT * FROM information_schema.`INNODB_TRX`",
        "SELECT LENGTH(a, GET_LOCK('x', 1)) FROM t",
    ],
)
def test_mysql_secrets_and_other_sessions_are_refused(sql: str) -> None:
    _refused(sql, MYSQL, "mysql")


def test_mysql_default_database_counts_for_unqualified_names() -> None:
    inside = ReadPolicy(default_schema="mysql")
    _refused("SELECT * FROM user", inside, "mysql")
    _refused("DESCRIBE user", inside, "mysql")
    _refused("SHOW COLUMNS FROM user", inside, "mysql")
    _passes("SELECT * FROM user", MYSQL, "mysql")
