"""``table`` result mode through PyHive and pandas, with the fake LLM scripting the agent's query:
typed columns, no-table errors, approvals that never park, and BI wrapper probes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pyhive.exc import OperationalError

from tests.bi.support import AGENT, Database, connect, start_bi_engine
from tests.fakes.openai_server import FakeOpenAIServer, text, tool

TABLE = {AGENT + "result.mode": "table"}


def _orders(database: Database) -> str:
    return "orders" if database.kind == "sqlite" else f"{database.schema}.orders"


def _read_sql(conn: Any, statement: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas prefers SQLAlchemy connectables
        return pd.read_sql(statement, conn)


def test_pandas_reads_a_question_as_a_typed_frame(
    start_engine: Any, tmp_path: Path, database: Database, llm: FakeOpenAIServer
) -> None:
    sql = f"SELECT id, customer, quantity, price FROM {_orders(database)} WHERE id <= 2 ORDER BY id"
    llm.add(tool("run_select_query", {"sql": sql}), text("Here are the first two orders."))
    engine = start_bi_engine(start_engine, tmp_path, database.url, llm)
    with connect(engine, configuration=TABLE) as conn:
        frame = _read_sql(conn, "show me the first two orders")
    assert list(frame.columns) == ["id", "customer", "quantity", "price"]
    assert str(frame["id"].dtype) == "int64" and str(frame["quantity"].dtype) == "int64"
    assert str(frame["price"].dtype) == "float64" and pd.api.types.is_string_dtype(frame["customer"])
    assert frame.to_dict("records") == [
        {"id": 1, "customer": "ada", "quantity": 3, "price": 4.25},
        {"id": 2, "customer": "bob", "quantity": 1, "price": 7.25},
    ]


def test_last_successful_query_wins_and_nulls_survive(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    llm.add(
        tool("run_select_query", {"sql": "SELECT 1 AS first_try"}),
        tool("run_select_query", {"sql": "SELECT no_such_column FROM orders"}),
        tool("run_select_query", {"sql": "SELECT id, price, note FROM orders ORDER BY id"}),
        text("Done."),
    )
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, llm)
    with connect(engine, configuration=TABLE) as conn:
        cursor = conn.cursor()
        cursor.execute("list the orders")
        assert [d[0] for d in cursor.description] == ["id", "price", "note"]
        assert cursor.fetchall() == [(1, 4.25, "first"), (2, 7.25, None), (3, None, "nulls")]


def test_a_table_cut_at_the_tool_row_cap_is_read_in_full(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    llm.add(
        tool("run_select_query", {"sql": "SELECT id, customer FROM orders ORDER BY id"}), text("All orders.")
    )
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, llm)
    with connect(engine, configuration={**TABLE, AGENT + "query.max.rows": "2"}) as conn:
        cursor = conn.cursor()
        cursor.execute("list every order")
        assert cursor.fetchall() == [(1, "ada"), (2, "bob"), (3, "ada")]
    tool_messages = [m for m in llm.requests[-1]["messages"] if m.get("role") == "tool"]
    assert "truncated to the first 2 rows" in tool_messages[-1]["content"]  # what the model saw


def test_a_run_without_a_table_ends_with_a_clear_error(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    llm.add(text("I can answer that without a query: hello!"))
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, llm)
    with connect(engine, configuration=TABLE) as conn:
        with pytest.raises(OperationalError) as caught:
            conn.cursor().execute("say hello")
    assert "result mode 'table': the run produced no table" in str(caught.value)


def test_gated_calls_in_table_mode_are_denied_at_once(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    """STRICT gates every tool; in table mode nobody sees the request, so it is denied (not parked
    for approval.timeout) and the run ends with an error that says why."""
    llm.add(tool("run_select_query", {"sql": "SELECT id FROM orders"}), text("I was not allowed to query."))
    engine = start_bi_engine(
        start_engine,
        tmp_path,
        sqlite_db.url,
        llm,
        {AGENT + "approval.mode": "STRICT", AGENT + "approval.timeout": "PT9M"},
    )
    with connect(engine, configuration=TABLE) as conn:
        with pytest.raises(OperationalError) as caught:
            conn.cursor().execute("list order ids")
    message = str(caught.value)
    assert "the run produced no table" in message and "gated tool call(s) were denied" in message
    tool_messages = [m for m in llm.requests[-1]["messages"] if m.get("role") == "tool"]
    assert "result mode 'table' shows no approval requests" in tool_messages[-1]["content"]


def test_wrapper_probes_apply_the_outer_query_to_the_answer(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    sql = "SELECT customer, SUM(quantity) AS qty FROM orders GROUP BY customer ORDER BY customer"
    for _ in range(3):
        llm.add(tool("run_select_query", {"sql": sql}), text("Quantities per customer."))
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, llm)
    with connect(engine, configuration=TABLE) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT * FROM (quantity per customer) AS virtual_table LIMIT 1")
        assert [d[0] for d in cursor.description] == ["customer", "qty"]
        assert cursor.fetchall() == [("ada", 3)]
        cursor.execute("SELECT COUNT(*) FROM (quantity per customer) t")
        assert [d[:2] for d in cursor.description] == [("_c0", "BIGINT_TYPE")]
        assert cursor.fetchall() == [(2,)]
        cursor.execute("SELECT qty FROM (quantity per customer) AS virtual_table LIMIT 5")
        assert cursor.fetchall() == [(3,), (1,)]
    questions = [m["content"] for r in llm.requests for m in r["messages"] if m.get("role") == "user"]
    assert "quantity per customer" in questions and not any("virtual_table" in q for q in questions)


def test_wrapper_over_passthrough_and_unsupported_wrappers(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, llm)
    with connect(engine, configuration=TABLE) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT COUNT(*) AS n FROM (__sql: SELECT * FROM orders) AS t")
        assert [d[0] for d in cursor.description] == ["n"] and cursor.fetchall() == [(3,)]
        with pytest.raises(OperationalError) as caught:
            cursor.execute("SELECT customer FROM (top customers) t WHERE qty > 1")
    assert "supports only SELECT * | columns | COUNT(*)" in str(caught.value)
    assert llm.request_count == 0


def test_wrappers_in_events_mode_go_to_the_agent_unchanged(
    start_engine: Any, tmp_path: Path, sqlite_db: Database, llm: FakeOpenAIServer
) -> None:
    llm.add(text("That looks like SQL around a question."))
    engine = start_bi_engine(start_engine, tmp_path, sqlite_db.url, llm)
    statement = "SELECT * FROM (top customers) AS virtual_table LIMIT 10"
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute(statement)
        assert cursor.description[0][0] == "reply"
        assert cursor.fetchall()
    user = [m["content"] for m in llm.requests[0]["messages"] if m.get("role") == "user"]
    assert user == [statement]


@pytest.fixture
def postgres_db() -> Any:
    from tests.bi.support import postgres_database

    yield from postgres_database()


def test_every_hive_type_reaches_pandas(start_engine: Any, tmp_path: Path, postgres_db: Database) -> None:
    engine = start_bi_engine(start_engine, tmp_path, postgres_db.url)
    sql = (
        "__sql: SELECT id, quantity, price, amount, paid, customer, ordered_on, created_at "
        f"FROM {postgres_db.schema}.orders ORDER BY id"
    )
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        types = {d[0]: d[1] for d in cursor.description}
        frame = _read_sql(conn, sql)
    assert types["quantity"] == "BIGINT_TYPE" and types["price"] == "DOUBLE_TYPE"
    assert types["amount"] == "DECIMAL_TYPE" and types["paid"] == "BOOLEAN_TYPE"
    assert types["customer"] == "STRING_TYPE" and types["ordered_on"] == "DATE_TYPE"
    assert types["created_at"] == "TIMESTAMP_TYPE"
    assert frame["price"].tolist()[:2] == [4.25, 7.25] and pd.isna(frame["price"].tolist()[2])
    assert frame["paid"].tolist()[:2] == [True, False] and frame["paid"].tolist()[2] is None
    assert float(frame["amount"].tolist()[0]) == 12.5 and pd.isna(frame["amount"].tolist()[2])
    assert str(frame["ordered_on"].tolist()[0]) == "2024-01-05"
    assert str(frame["created_at"].tolist()[1]).startswith("2024-02-01 08:00:00")
