"""The database-enforced layer ALONE (no sqlglot guard in front): every data or schema write
attempt through ``execute_read`` must leave the database unchanged. Prints the blocked figure.

Side effects a read-only transaction cannot stop (advisory locks, pg_terminate_backend...) are
the guard's job (engine/tools/guard.py) and are not in this corpus."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from engine.common.errors import EngineError
from engine.datasource import Datasource
from tests.support.databases import mysql_query, pg_query

COMMON = [
    "INSERT INTO customers VALUES (90, 'Eve', 'US')",
    "insert into customers values (91, 'Eve', 'US')",
    "/* hi */ INSERT INTO customers VALUES (92, 'Eve', 'US')",
    "\u00a0INSERT\u2003INTO customers VALUES (93, 'Eve', 'US')",
    "UPDATE orders SET amount = 0",
    "uPdAtE orders SET amount = 0",
    "DELETE FROM orders",
    "DELETE FROM orders WHERE 1 = 1 -- comment",
    "DROP TABLE orders",
    "CREATE TABLE evil (x INT)",
    "ALTER TABLE orders ADD COLUMN evil INT",
    "CREATE VIEW evil AS SELECT 1 AS x",
    "CREATE INDEX evil ON orders (amount)",
    "WITH x AS (SELECT 1 AS a) INSERT INTO customers SELECT 94, 'Eve', 'US' FROM x",
    "SELECT 1; DELETE FROM orders",
    "SELECT 1;\nDROP TABLE orders",
    "SELECT '1'; UPDATE orders SET amount = 0; --",
]
PER_DIALECT = {
    "sqlite": [
        "REPLACE INTO customers VALUES (1, 'Mallory', 'XX')",
        "ATTACH DATABASE '{dir}/evil.db' AS evil",
        "VACUUM INTO '{dir}/copy.db'",
        "PRAGMA user_version = 9",
        "PRAGMA writable_schema = ON",
        "CREATE TEMP TABLE evil (x)",
        "SELECT load_extension('{dir}/evil')",
        "INSERT OR REPLACE INTO customers VALUES (1, 'Mallory', 'XX')",
    ],
    "postgresql": [
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d",
        "WITH u AS (UPDATE orders SET amount = 0 RETURNING *) SELECT count(*) FROM u",
        "SELECT * INTO evil FROM orders",
        "CREATE TEMP TABLE evil AS SELECT 1",
        "EXPLAIN ANALYZE DELETE FROM orders",
        "SELECT nextval('seq')",
        "SELECT setval('seq', 99)",
        "SELECT * FROM orders FOR UPDATE",
        "COPY orders TO '{dir}/orders.csv'",
        "TRUNCATE orders",
        "SET transaction_read_only = off",
        "SELECT 1; COMMIT; DELETE FROM orders",
        "SELECT $$x$$; DELETE FROM orders",
        "DO $$BEGIN DELETE FROM orders; END$$",
        "CALL nothing()",
        "LOCK TABLE orders",
        "SELECT lo_import('/etc/hostname')",
        "GRANT SELECT ON orders TO PUBLIC",
    ],
    "mysql": [
        "REPLACE INTO customers VALUES (1, 'Mallory', 'XX')",
        "CREATE TEMPORARY TABLE evil (x INT)",
        "TRUNCATE TABLE orders",
        "RENAME TABLE orders TO evil",
        "SELECT 1 INTO OUTFILE '{dir}/out.txt'",
        "select 1 into dumpfile '{dir}/dump.bin'",
        "SELECT * FROM orders INTO OUTFILE '{dir}/o2.txt'",
        "SET GLOBAL max_connections = 77",
        "DO SLEEP(0)",
        "LOCK TABLES orders WRITE",
        "HANDLER orders OPEN",
        "LOAD DATA INFILE '/etc/hostname' INTO TABLE customers",
        "INSERT INTO customers SELECT 95, 'Eve', 'US' FROM DUAL",
        "SELECT 1; DROP TABLE orders",
        "SELECT * FROM orders FOR UPDATE",
        "SELECT * FROM orders LOCK IN SHARE MODE",
    ],
}


def _run_corpus(datasource: Datasource, snapshot, directory: Path) -> tuple[int, list[str]]:
    before = snapshot()
    failures: list[str] = []
    cases = COMMON + PER_DIALECT[datasource.dialect]
    for template in cases:
        sql = template.format(dir=directory)
        try:
            datasource.execute_read(sql, max_rows=10, timeout=10)
        except EngineError:
            pass
        if snapshot() != before or any(directory.iterdir()):
            failures.append(sql)
    return len(cases), failures


def _report(name: str, total: int, failures: list[str]) -> None:
    print(
        f"\n[db-layer corpus] {name}: {total - len(failures)}/{total} write attempts blocked by the database layer alone"
    )
    assert failures == []


def test_sqlite_layer_blocks_writes(sqlite_ds: Datasource, sqlite_path: Path, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()

    def snapshot() -> tuple[object, ...]:
        with sqlite3.connect(sqlite_path) as connection:
            return (
                connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall(),
                connection.execute("SELECT * FROM customers ORDER BY id").fetchall(),
                connection.execute("SELECT * FROM orders ORDER BY id").fetchall(),
                connection.execute("PRAGMA user_version").fetchone(),
                sorted(p.name for p in sqlite_path.parent.iterdir()),
            )

    _report("sqlite", *_run_corpus(sqlite_ds, snapshot, spill))


def test_postgres_layer_blocks_writes(pg_ds: Datasource, pg_schema: str, tmp_path: Path) -> None:
    spill = tmp_path / f"spill_{uuid.uuid4().hex[:6]}"
    spill.mkdir(mode=0o777)
    spill.chmod(0o777)  # the server could write here if the database let it

    def snapshot() -> tuple[object, ...]:
        return (
            pg_query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                pg_schema,
            ),
            pg_query(f"SELECT * FROM {pg_schema}.customers ORDER BY id"),
            pg_query(f"SELECT * FROM {pg_schema}.orders ORDER BY id"),
            pg_query(f"SELECT last_value, is_called FROM {pg_schema}.seq"),
            pg_query("SELECT count(*) FROM pg_largeobject_metadata"),
            pg_query(
                "SELECT count(*) FROM information_schema.table_privileges WHERE table_schema = %s", pg_schema
            ),
        )

    _report("postgresql", *_run_corpus(pg_ds, snapshot, spill))


def test_mariadb_layer_blocks_writes(mysql_ds: Datasource, mysql_db: str, tmp_path: Path) -> None:
    spill = tmp_path / f"spill_{uuid.uuid4().hex[:6]}"
    spill.mkdir()
    spill.chmod(0o777)

    def snapshot() -> tuple[object, ...]:
        return (
            mysql_query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                mysql_db,
            ),
            mysql_query(f"SELECT * FROM {mysql_db}.customers ORDER BY id"),
            mysql_query(f"SELECT * FROM {mysql_db}.orders ORDER BY id"),
            mysql_query("SELECT @@global.max_connections"),
        )

    _report("mariadb", *_run_corpus(mysql_ds, snapshot, spill))
