"""Cancelling a statement while its SQL runs on PostgreSQL: the query is gone within 2 s."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.agent.e2e import connect, engine_conf, final_state, real_tools_available
from tests.fakes.openai_server import FakeOpenAIServer, text, tool
from tests.support import databases


@pytest.fixture
def pg_database():
    with databases.pg_database("agent") as name:
        yield name


def running_queries(database: str, marker: str) -> int:
    return databases.pg_query(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND query LIKE %s",
        database,
        f"%{marker}%",
    )[0][0]


def test_cancel_during_slow_postgres_query(start_engine, tmp_path, pg_database):
    marker = f"slow_{uuid.uuid4().hex[:8]}"
    sql = f"SELECT pg_sleep(60) AS {marker}"
    with FakeOpenAIServer([tool("run_select_query", {"sql": sql}), text("unused")]) as llm:
        conf = engine_conf(llm, f"jdbc:postgresql://127.0.0.1:5432/{pg_database}?user=postgres")
        if real_tools_available():
            engine = start_engine(conf)
        else:
            from engine.agent.openai_provider import OpenAICompatibleProvider
            from engine.common.config import EngineConf
            from tests.conftest import base_conf
            from tests.fakes.pg_tools import PostgresTools

            values = {**base_conf(tmp_path), **conf}
            resolved = EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={})
            tools = PostgresTools(f"host=127.0.0.1 port=5432 user=postgres dbname={pg_database}")
            engine = start_engine(
                conf, provider=OpenAICompatibleProvider(resolved, None, tools), datasource=object()
            )
        with connect(engine) as conn:
            cursor = conn.cursor()
            cursor.execute("Run the slow report", async_=True)
            assert databases.wait_until(lambda: running_queries(pg_database, marker) == 1, 10), (
                "the query never started"
            )
            cursor.cancel()
            started = time.monotonic()
            assert databases.wait_until(lambda: running_queries(pg_database, marker) == 0, 2.0)
            assert time.monotonic() - started < 2.0
            assert final_state(cursor, timeout=5).operationState == 3  # CANCELED
        assert llm.request_count == 1  # the model was not asked again after the cancel
