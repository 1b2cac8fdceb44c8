"""The read-only boundary against real databases.

Every attempt of the adversarial corpus (:mod:`tests.tools.corpus`, each base attack in five
spellings) goes through ``run_select_query`` and must come back as an error result with the
database unchanged: row counts, the table list, sequence/lock/replication-origin/BRIN-summary
state, and no file written. On PostgreSQL every volatile ``pg_catalog`` function the server's own
``pg_proc`` lists (outside the reviewed harmless ones) is attacked too, so the corpus follows the
server version. The legitimate-reads corpus must pass. Each prints its figure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.common.deadline import DeadlineScheduler
from engine.datasource import Datasource
from engine.tools.guard_rules import PG_REVIEWED_VOLATILE
from tests.support import databases
from tests.tools.conftest import PG_EXTRA, SEED, Target
from tests.tools.corpus import ATTACKS, READS, variants

Snapshot = Callable[[], tuple[Any, ...]]


def _snapshot(target: Target) -> Snapshot:
    name = target.name
    if target.kind == "postgresql":

        def pg() -> tuple[Any, ...]:
            state = (
                f"SELECT (SELECT count(*) FROM {name}.customers), (SELECT count(*) FROM {name}.orders), "
                "(SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name) "
                f"FROM information_schema.columns WHERE table_schema = '{name}'), "
                f"(SELECT last_value || ':' || is_called FROM {name}.seq), "
                f"(SELECT string_agg(name || ':' || country, ',' ORDER BY id) FROM {name}.customers), "
                "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (4242, 4243)), "
                "(SELECT count(*) FROM pg_largeobject_metadata), "
                "(SELECT string_agg(roname, ',' ORDER BY roname) FROM pg_replication_origin), "
                "(SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots)"
            )
            return (target.query(state), _brin_summary(target.query, name))

        return pg
    if target.kind == "mysql":

        def mysql() -> tuple[Any, ...]:
            return (
                target.query(
                    f"SELECT (SELECT count(*) FROM {name}.customers), (SELECT count(*) FROM {name}.orders)"
                ),
                target.query(
                    f"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{name}' ORDER BY 1, 2"
                ),
                target.query(
                    f"SELECT GROUP_CONCAT(CONCAT(name, ':', IFNULL(country, '')) ORDER BY id) FROM {name}.customers"
                ),
                target.query("SELECT IS_USED_LOCK('dae_corpus')"),
            )

        return mysql

    def sqlite() -> tuple[Any, ...]:
        return (
            target.query("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders)"),
            target.query("SELECT type, name, sql FROM sqlite_master ORDER BY name"),
            target.query("SELECT group_concat(name || ':' || ifnull(country, ''), ',') FROM customers"),
            target.query("PRAGMA user_version"),
            target.query("PRAGMA journal_mode"),
            sorted(path.name for path in Path(target.name).parent.iterdir()),
        )

    return sqlite


def _brin_summary(query: Callable[[str], list[tuple[Any, ...]]], schema: str) -> list[tuple[Any, ...]]:
    """The plan of a BRIN lookup: how many heap rows its summaries rule out changes when someone
    summarizes the ranges (a change no rollback undoes)."""
    plan = query(
        "SET enable_seqscan = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
        f"SELECT count(*) FROM {schema}.t_brin_data WHERE a = 5"
    )
    query("RESET enable_seqscan")
    return plan


def _corpus_key(target: Target) -> str:
    return {"postgresql": "pg"}.get(target.kind, target.kind)


def test_adversarial_corpus_is_fully_blocked(target: Target, tmp_path: Path) -> None:
    snapshot = _snapshot(target)
    before = snapshot()
    files_dir = Path("/tmp") / f"dae_corpus_{uuid.uuid4().hex[:10]}"
    cases = 0
    blocked = 0
    by_guard = 0
    leaks: list[str] = []
    for index, base in enumerate(ATTACKS[_corpus_key(target)]):
        for label, sql in variants(base, index):
            cases += 1
            target_file = files_dir / f"case_{cases}.out"
            sql = sql.replace("{file}", str(target_file))
            result = target.call("run_select_query", {"sql": sql})
            after = snapshot()
            unchanged = after == before and not target_file.exists() and not files_dir.exists()
            if result.is_error and unchanged:
                blocked += 1
                by_guard += "read-only guard" in result.output
            else:
                leaks.append(f"{label}: {sql!r} -> {result.output[:120]!r} (state unchanged: {unchanged})")
                before = after
    share = 100.0 * blocked / cases
    print(
        f"\n[{target.kind}] adversarial corpus: {blocked}/{cases} attacks blocked ({share:.1f}%), "
        f"{by_guard} by the sqlglot guard, {blocked - by_guard} by the database"
    )
    assert not leaks, "\n".join(leaks)


def _volatile_catalog_calls() -> list[str]:
    """A call of every volatile pg_catalog function overload this server has, outside the reviewed
    harmless ones: schema-qualified with NULL arguments of the declared types, and for each name
    also unqualified, in upper case."""
    rows = databases.pg_query(
        "SELECT p.proname, coalesce(string_agg('NULL::' || format_type(t.type, NULL), ', ' ORDER BY t.n), '') "
        "FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace "
        "LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY AS t(type, n) ON true "
        "WHERE s.nspname = 'pg_catalog' AND p.provolatile = 'v' AND p.prokind IN ('f', 'a', 'w') "
        "GROUP BY p.oid, p.proname ORDER BY p.proname, p.oid"
    )
    calls: list[str] = []
    seen: set[str] = set()
    for name, args in rows:
        if name in PG_REVIEWED_VOLATILE:
            continue
        calls.append(f"SELECT pg_catalog.{name}({args})")
        if name not in seen:
            seen.add(name)
            calls.append(f"SELECT {name.upper()}({args})")
    return calls


def test_volatile_catalog_functions_are_blocked(pg_target: Target) -> None:
    target = pg_target
    calls = _volatile_catalog_calls()
    snapshot = _snapshot(target)
    before = snapshot()
    leaks: list[str] = []
    for sql in calls:
        result = target.call("run_select_query", {"sql": sql})
        after = snapshot()
        if not result.is_error or after != before:
            leaks.append(f"{sql!r} -> {result.output[:120]!r} (state unchanged: {after == before})")
            before = after
    blocked = len(calls) - len(leaks)
    print(
        f"\n[postgresql] volatile pg_catalog functions from pg_proc: {blocked}/{len(calls)} calls blocked "
        f"({100.0 * blocked / len(calls):.1f}%)"
    )
    assert len(calls) > 200
    assert not leaks, "\n".join(leaks)


def test_the_snapshot_sees_what_the_guard_stops(scheduler: DeadlineScheduler) -> None:
    """Without the guard, PostgreSQL's read-only transaction lets the red team's BRIN summary and
    a volatile function's advisory lock through, and the corpus snapshot sees both."""
    with databases.pg_schema("escape", [*SEED, *PG_EXTRA]) as schema:
        datasource = Datasource.from_url(databases.pg_jdbc_url(schema), scheduler=scheduler)
        try:
            locks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4243"
            summary = _brin_summary(databases.pg_query, schema)
            datasource.execute_read("SELECT brin_summarize_new_values('t_brin')", max_rows=1, timeout=10)
            assert _brin_summary(databases.pg_query, schema) != summary  # persisted past the rollback
            assert databases.pg_query(locks) == [(0,)]
            datasource.execute_read("SELECT dae_lock()", max_rows=1, timeout=10)
            assert databases.pg_query(locks) == [(1,)]  # held by the pooled connection
            rules = datasource.execute_read("SELECT * FROM pg_hba_file_rules", max_rows=5, timeout=10)
            assert rules.rows  # the server's pg_hba.conf, read inside a read-only transaction
        finally:
            datasource.close()


def test_adversarial_corpus_size() -> None:
    total = sum(len(bases) * len(variants("x", 0)) for bases in ATTACKS.values())
    print(f"\nadversarial corpus: {total} attacks over SQLite, PostgreSQL and MariaDB")
    assert total >= 100
    assert all(len(bases) * 5 >= 100 for bases in ATTACKS.values())


def test_legitimate_reads_pass(target: Target) -> None:
    snapshot = _snapshot(target)
    before = snapshot()
    queries = READS["common"] + READS[_corpus_key(target)]
    failures = []
    for sql in queries:
        result = target.call("run_select_query", {"sql": sql})
        if result.is_error:
            failures.append(f"{sql!r}: {result.output}")
    passed = len(queries) - len(failures)
    print(
        f"\n[{target.kind}] legitimate reads: {passed}/{len(queries)} passed ({100.0 * passed / len(queries):.1f}%)"
    )
    assert snapshot() == before
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("tool", ["list_tables", "describe_table", "sample_values"])
def test_schema_tools_leave_the_database_unchanged(target: Target, tool: str) -> None:
    snapshot = _snapshot(target)
    before = snapshot()
    args = {"list_tables": {}, "describe_table": {"table": "orders"}}.get(
        tool, {"table": "orders", "column": "note"}
    )
    assert not target.call(tool, args).is_error
    hostile = target.call("sample_values", {"table": "orders", "column": "note'); DELETE FROM orders; --"})
    assert hostile.is_error
    assert snapshot() == before
