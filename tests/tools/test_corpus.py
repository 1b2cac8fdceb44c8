"""The read-only boundary against real databases.

Every write attempt of the adversarial corpus (:mod:`tests.tools.corpus`, each base attack in
five spellings) goes through ``run_select_query`` and must come back as an error result with the
database unchanged: row counts, the table list, sequence/lock/setting state, and no file written.
The legitimate-reads corpus must pass. Both print their figure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tools.conftest import Target
from tests.tools.corpus import ATTACKS, READS, variants

Snapshot = Callable[[], tuple[Any, ...]]


def _snapshot(target: Target) -> Snapshot:
    name = target.name
    if target.kind == "postgresql":

        def pg() -> tuple[Any, ...]:
            return (
                target.query(
                    f"SELECT (SELECT count(*) FROM {name}.customers), (SELECT count(*) FROM {name}.orders)"
                ),
                target.query(
                    f"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{name}' ORDER BY 1, 2"
                ),
                target.query(f"SELECT last_value, is_called FROM {name}.seq"),
                target.query(
                    f"SELECT string_agg(name || ':' || country, ',' ORDER BY id) FROM {name}.customers"
                ),
                target.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
                target.query("SELECT count(*) FROM pg_largeobject_metadata"),
            )

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
        f"\n[{target.kind}] adversarial corpus: {blocked}/{cases} write attempts blocked ({share:.1f}%), "
        f"{by_guard} by the sqlglot guard, {blocked - by_guard} by the database"
    )
    assert not leaks, "\n".join(leaks)


def test_adversarial_corpus_size() -> None:
    total = sum(len(bases) * len(variants("x", 0)) for bases in ATTACKS.values())
    print(f"\nadversarial corpus: {total} write attempts over SQLite, PostgreSQL and MariaDB")
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
