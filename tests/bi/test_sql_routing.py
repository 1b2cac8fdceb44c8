"""SQL that needs no LLM (``sql.routing=auto``), through real clients: DBeaver-style data viewing,
pandas ``read_sql`` over PyHive's SQLAlchemy dialect, EXPLAIN, SHOW CREATE TABLE and DESCRIBE
QUERY answer typed columns, and the agent provider never sees them. Questions that merely start
like SQL still reach it, and ``sql.routing=prefix`` keeps the old behaviour."""

from __future__ import annotations

import os
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy
from impala.dbapi import connect as impyla_connect
from pyhive.exc import OperationalError

from engine.agent.echo import EchoProvider
from engine.agent.events import AgentEvent
from engine.agent.provider import AgentSession, RunRequest
from tests.bi.support import AGENT, Database, connect

LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))


class RecordingEcho:
    """The ECHO provider, recording every question it is asked."""

    name = "ECHO"

    def __init__(self) -> None:
        self.inner = EchoProvider()
        self.questions: list[str] = []
        self._lock = threading.Lock()

    def open_session(self, session: AgentSession) -> None:
        self.inner.open_session(session)

    def close_session(self, session: AgentSession) -> None:
        self.inner.close_session(session)

    def close(self) -> None:
        self.inner.close()

    def run(self, request: RunRequest) -> Iterator[AgentEvent]:
        with self._lock:
            self.questions.append(request.question)
        return self.inner.run(request)


def _start(start_engine: Any, url: str, conf: dict[str, str] | None = None) -> tuple[Any, RecordingEcho]:
    provider = RecordingEcho()
    values = {AGENT + "jdbc.url": url, **(conf or {})}
    return start_engine(values, provider=provider), provider


def _orders(database: Database) -> str:
    return "orders" if database.kind == "sqlite" else f"{database.schema}.orders"


def test_dbeaver_style_viewing_runs_without_the_llm(start_engine: Any, database: Database) -> None:
    engine, provider = _start(start_engine, database.url)
    sql = f"SELECT * FROM {_orders(database)} LIMIT 200"
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        description = [d[:2] for d in cursor.description]
        rows = cursor.fetchall()
    assert [name for name, _ in description][:3] == ["id", "customer", "amount"]
    assert description[1] == ("customer", "STRING_TYPE")
    assert sorted(row[0] for row in rows) == [1, 2, 3]
    impyla = impyla_connect(engine.host, engine.port, auth_mechanism="PLAIN", user="alice", password="x")
    try:
        cursor = impyla.cursor()
        cursor.execute(f"SELECT id, customer FROM {_orders(database)} ORDER BY id LIMIT 200")
        assert cursor.fetchall() == [(1, "ada"), (2, "bob"), (3, "ada")]
        cursor.close()
    finally:
        impyla.close()
    assert provider.questions == []


def test_pandas_read_sql_over_pyhive_sqlalchemy(start_engine: Any, database: Database) -> None:
    engine, provider = _start(start_engine, database.url)
    sa_engine = sqlalchemy.create_engine(f"hive://alice@{engine.host}:{engine.port}/default")
    sql = f"SELECT customer, COUNT(*) AS n FROM {_orders(database)} GROUP BY customer ORDER BY customer"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_sql(sql, sa_engine)  # has_table first sends DESCRIBE <sql>: an error
    finally:
        sa_engine.dispose()
    assert list(frame.columns) == ["customer", "n"]
    assert frame.to_dict("records") == [{"customer": "ada", "n": 2}, {"customer": "bob", "n": 1}]
    assert provider.questions == []


EXPLAIN = {"sqlite": "EXPLAIN QUERY PLAN", "postgresql": "EXPLAIN", "mariadb": "EXPLAIN"}


def test_with_explain_show_create_and_describe_query(start_engine: Any, database: Database) -> None:
    engine, provider = _start(start_engine, database.url)
    orders = _orders(database)
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute(f"WITH big AS (SELECT id FROM {orders} WHERE id > 1) SELECT COUNT(*) AS n FROM big")
        assert [d[0] for d in cursor.description] == ["n"] and cursor.fetchall() == [(2,)]
        cursor.execute(f"{EXPLAIN[database.kind]} SELECT * FROM {orders} WHERE id = 1")
        assert cursor.description[0][0] != "reply" and cursor.fetchall()
        cursor.execute(f"SHOW CREATE TABLE {orders}")
        assert [d[0] for d in cursor.description] == ["createtab_stmt"]
        lines = [row[0] for row in cursor.fetchall()]
        assert (
            lines[0] == f"CREATE TABLE `{database.schema}`.`orders`(" and "  `customer` varchar(40)," in lines
        )
        assert lines[-1].startswith("  PRIMARY KEY (`id`)") and lines[-1].endswith(")")
        cursor.execute(f"DESCRIBE QUERY SELECT id, customer AS who, amount FROM {orders}")
        assert [d[0] for d in cursor.description] == ["col_name", "data_type", "comment"]
        described = cursor.fetchall()
        assert [row[0] for row in described] == ["id", "who", "amount"]
        if database.kind != "sqlite":  # SQLite reports no types for an empty result
            assert described[2][1].startswith("decimal(")
        with pytest.raises(OperationalError) as caught:
            cursor.execute(f"DESCRIBE SELECT id FROM {orders}")
        assert "DESCRIBE takes a table name" in str(caught.value)
        cursor.execute("SELECT 1")  # the connection is still usable
        assert cursor.fetchall() == [(1,)]
    assert provider.questions == []


def test_questions_that_look_like_sql_reach_the_agent(start_engine: Any, sqlite_db: Database) -> None:
    engine, provider = _start(start_engine, sqlite_db.url)
    questions = [
        "Select the five best customers by revenue",
        "show me the orders of last week",
        "explain why revenue dropped",
        "SELECT * FROM no_such_table",
        "with whom did ada order?",
    ]
    with connect(engine) as conn:
        cursor = conn.cursor()
        for question in questions:
            cursor.execute(question)
            assert cursor.description[0][0] == "reply"
            assert cursor.fetchall()
    assert provider.questions == questions


def test_prefix_routing_sends_sql_to_the_agent(start_engine: Any, sqlite_db: Database) -> None:
    engine, provider = _start(start_engine, sqlite_db.url, {AGENT + "sql.routing": "prefix"})
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT * FROM orders LIMIT 200")
        assert cursor.description[0][0] == "reply"
        cursor.fetchall()
        cursor.execute("__sql: SELECT COUNT(*) AS n FROM orders")
        assert cursor.fetchall() == [(3,)]
    with connect(engine, configuration={AGENT + "sql.routing": "auto"}) as conn:  # per session
        cursor = conn.cursor()
        cursor.execute("SELECT COUNT(*) AS n FROM orders")
        assert [d[0] for d in cursor.description] == ["n"] and cursor.fetchall() == [(3,)]
    assert provider.questions == ["SELECT * FROM orders LIMIT 200"]


def test_long_statements_are_clear_errors_and_run_registry_forms_skip_the_llm(
    start_engine: Any, sqlite_db: Database
) -> None:
    engine, provider = _start(start_engine, sqlite_db.url, {AGENT + "statement.max.length": "2048"})
    with connect(engine) as conn:
        cursor = conn.cursor()
        with pytest.raises(OperationalError) as caught:
            cursor.execute("how many orders? " * 200)
        assert "statement.max.length" in str(caught.value)
        for statement in ("SHOW RUNS", "SHOW CONVERSATIONS LIMIT 3"):  # the run registry answers
            cursor.execute(statement)
            assert cursor.fetchall() == []
        for statement, error in (("SHOW RUNS ALL LIMIT 5", "administrators"), ("__attach:run-1", "no run")):
            with pytest.raises(OperationalError) as caught:
                cursor.execute(statement)
            assert error in str(caught.value)
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]
    assert provider.questions == []


@pytest.mark.beeline
@pytest.mark.timeout(120)
@pytest.mark.skipif(not (LAB / "bin" / "env.sh").exists(), reason=f"{LAB} not installed")
def test_beeline_views_a_table_without_the_llm(start_engine: Any, sqlite_db: Database) -> None:
    engine, provider = _start(start_engine, sqlite_db.url)
    script = f'source {LAB}/bin/env.sh; beeline -u "$URL" -n u -p "$BPASS" --outputformat=tsv2 -e "$Q"'
    env = {
        **os.environ,
        "URL": f"jdbc:hive2://{engine.host}:{engine.port}/default",
        "BPASS": "x",
        "Q": "SELECT id, customer FROM orders ORDER BY id LIMIT 200",
    }
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=110, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[-4].endswith("id\tcustomer")  # beeline may print its prompt before the header
    assert lines[-3:] == ["1\tada", "2\tbob", "3\tada"]
    assert provider.questions == []
