"""Issue 16 §2: per-user limits through real PyHive clients. A statement burst, then a refusal
that names the limit and when to retry; control statements are not counted; concurrent runs;
tokens per day, kept across a restart (in the run store, or without one in the work directory);
administrators exempt from all of them."""

from __future__ import annotations

import re
import threading
import time

import pytest
from pyhive.exc import OperationalError

from tests.durable.support import connect, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.metrics.conftest import Start

ADMIN = {"kyuubi.server.administrators": "root"}
SQL = "SELECT customer FROM orders"


def run_sql(cursor: object, count: int) -> None:
    for _ in range(count):
        cursor.execute(SQL)  # type: ignore[attr-defined]
        cursor.fetchall()  # type: ignore[attr-defined]


def test_a_burst_passes_then_the_next_is_refused_until_the_bucket_refills(agent: Start) -> None:
    engine = agent(**ADMIN, **{"user.statements.per.minute": "60", "user.statements.burst": "3"})
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        run_sql(cursor, 3)
        with pytest.raises(OperationalError) as refused:
            cursor.execute(SQL)
        message = str(refused.value)
        assert "user.statements.per.minute" in message and "statements.burst=3" in message
        wait = float(re.search(r"retry in ([\d.]+) s", message).group(1))  # type: ignore[union-attr]
        assert 0 < wait <= 1.0
        # control statements do not count, and pass while the bucket is empty
        for control in ("SET", "SET kyuubi.engine.data.agent.max.iterations", "SELECT 1"):
            cursor.execute(control)
            cursor.fetchall()
        cursor.execute("USE default")  # no result set
        cursor.execute("SET kyuubi.engine.data.agent.max.iterations=5")
        cursor.execute("__approve:no-such-request")
        assert '"status":"not_found"' in cursor.fetchall()[0][0]
        with pytest.raises(OperationalError, match=r"statements\.per\.minute"):
            cursor.execute(SQL)
        time.sleep(wait + 0.1)  # one statement a second refills
        run_sql(cursor, 1)
    with connect(engine.host, engine.port, user="bob") as connection:  # a bucket per user
        run_sql(connection.cursor(), 3)
    with connect(engine.host, engine.port, user="root") as connection:  # an administrator is exempt
        run_sql(connection.cursor(), 10)


def test_concurrent_runs_per_user(agent: Start, llm: FakeOpenAIServer) -> None:
    engine = agent(**ADMIN, **{"user.max.concurrent.runs": "1"})
    hold = threading.Event()
    llm.add(text("Slow.", wait_for=hold), text("Bob's."), text("Root's."), text("Again."))
    first = connect(engine.host, engine.port)
    try:
        running = first.cursor()
        running.execute("a slow question", async_=True)
        assert rows(running, 1)[0]["type"] == "agent_start"
        assert llm.wait_for_requests(1)
        with connect(engine.host, engine.port) as second:
            with pytest.raises(OperationalError) as refused:
                second.cursor().execute("another question")
            assert "user.max.concurrent.runs=1" in str(refused.value)
            assert "retry when one of them ends" in str(refused.value)
            for user in ("bob", "root"):  # other users, and an administrator, are not held back
                with connect(engine.host, engine.port, user=user) as other:
                    cursor = other.cursor()
                    cursor.execute("a question")
                    assert rest(cursor)[-1]["type"] == "agent_finish"
            hold.set()
            assert rest(running)[-1]["type"] == "agent_finish"
            again = second.cursor()
            again.execute("now it passes")
            assert rest(again)[-1]["type"] == "agent_finish"
    finally:
        hold.set()
        first.close()


@pytest.mark.parametrize("store_enabled", ["true", "false"])
def test_tokens_per_day_survive_a_restart(agent: Start, llm: FakeOpenAIServer, store_enabled: str) -> None:
    conf = {**ADMIN, "user.tokens.per.day": "200", "store.enabled": store_enabled}
    engine = agent(**conf)
    llm.add(text("One."), text("Two."))  # each reply: 100 prompt + 20 completion tokens
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        for question in ("first", "second"):  # 0, then 120 tokens spent: under 200
            cursor.execute(question)
            rest(cursor)
        with pytest.raises(OperationalError) as refused:
            cursor.execute("third")
        assert "spent 240 LLM tokens today" in str(refused.value)
        assert "user.tokens.per.day=200" in str(refused.value) and "00:00 UTC" in str(refused.value)
    assert llm.request_count == 2
    engine.stop()
    restarted = agent(**conf)  # same work directory, same store
    with connect(restarted.host, restarted.port) as connection:
        with pytest.raises(OperationalError, match="spent 240 LLM tokens today"):
            connection.cursor().execute("after the restart")
    llm.add(text("Root's."), text("Bob's."))
    for user in ("root", "bob"):
        with connect(restarted.host, restarted.port, user=user) as connection:
            cursor = connection.cursor()
            cursor.execute("a question")
            assert rest(cursor)[-1]["type"] == "agent_finish"
