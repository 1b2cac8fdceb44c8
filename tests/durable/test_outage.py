"""A store outage blocks neither FetchResults nor the run (issue 14 §1): the run streams every row,
ends after at most ``store.commit.timeout`` at its barrier, stays attachable from the engine's
memory, and reaches the store once it is back. PostgreSQL is cut at a TCP proxy; SQLite is locked
by another connection."""

from __future__ import annotations

from typing import Any

import pytest
from pyhive.exc import OperationalError

from tests.durable.support import AGENT, API_KEY, StoreTarget, agent_conf, connect, payloads, rest
from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.store.test_outage import outage_control
from tests.support.databases import wait_until


def test_a_store_outage_blocks_neither_the_stream_nor_the_run(
    start_engine: Any, llm: FakeOpenAIServer, shop: Any, store: StoreTarget
) -> None:
    with outage_control(store) as outage:
        conf = agent_conf(llm, f"jdbc:sqlite:{shop}", store)
        conf.update(
            {
                AGENT + "store.url": outage.url,
                AGENT + "store.commit.timeout": "PT1S",
                AGENT + "openai.api.key": API_KEY,
            }
        )
        engine = start_engine(conf)
        llm.add(text("One ", "two ", "three."))
        outage.start()
        with connect(engine.host, engine.port) as connection:
            cursor = connection.cursor()
            cursor.execute("count to three")  # ends once its barrier gives up (1 s)
            events = rest(cursor)
            assert events[0]["type"] == "agent_start" and events[-1]["type"] == "agent_finish"
            run_id = events[0]["runId"]
            cursor.execute(f"__attach:{run_id}")  # its end is not stored yet: replayed from memory
            assert rest(cursor) == events
            if store.backend == "postgresql":  # (SQLite readers are not blocked by the writer's lock)
                with pytest.raises(OperationalError, match="run store"):
                    cursor.execute("SHOW RUNS")
        outage.end()
        assert wait_until(lambda: store.status(run_id) == "success", 30)
        assert payloads(store.events(run_id)) == events
