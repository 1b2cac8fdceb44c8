"""Cancelling a statement while its SQL runs on PostgreSQL: the query is gone within 2 s."""

from __future__ import annotations

import time
import uuid

from tests.agent.conftest import active_queries
from tests.agent.e2e import connect, engine_conf, final_state
from tests.fakes.openai_server import FakeOpenAIServer, text, tool
from tests.support import databases


def test_cancel_during_slow_postgres_query(pg_schema, start_engine):
    marker = f"slow_{uuid.uuid4().hex[:8]}"
    sql = f"SELECT pg_sleep(60) AS {marker}"
    with FakeOpenAIServer([tool("run_select_query", {"sql": sql}), text("unused")]) as llm:
        engine = start_engine(engine_conf(llm, databases.pg_jdbc_url(pg_schema)))
        with connect(engine) as conn:
            cursor = conn.cursor()
            cursor.execute("Run the slow report", async_=True)
            assert databases.wait_until(lambda: active_queries(marker) == 1, 10), "the query never started"
            cursor.cancel()
            started = time.monotonic()
            assert databases.wait_until(lambda: active_queries(marker) == 0, 2.0)
            assert time.monotonic() - started < 2.0
            assert final_state(cursor, timeout=5).operationState == 3  # CANCELED
        assert llm.request_count == 1  # the model was not asked again after the cancel
