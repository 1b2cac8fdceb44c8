"""Issue 16 §3: kyuubi.server.administrators may list, watch and cancel anyone's runs over Thrift
(SHOW RUNS ALL, __attach:, CancelOperation on the attached operation), and never approve another
user's tool call: an administrator's __approve: of it is not_found and changes nothing."""

from __future__ import annotations

import json

from tests.durable.support import StoreTarget, connect, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, text, tool
from tests.metrics.conftest import Start
from tests.support.databases import wait_until


def test_an_administrator_lists_watches_and_stops_a_run_but_cannot_approve_it(
    agent: Start, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    engine = agent(**{"kyuubi.server.administrators": "root", "approval.mode": "NORMAL"})
    llm.add(tool("run_mutation_query", {"sql": "DELETE FROM orders WHERE customer = 'bob'"}))
    with connect(engine.host, engine.port) as owner:
        cursor = owner.cursor()
        cursor.execute("delete bob's orders", async_=True)
        parked = rows(cursor, 3)
        run_id, request_id = parked[0]["runId"], parked[2]["requestId"]
        with connect(engine.host, engine.port, user="root") as admin:
            listing = admin.cursor()
            listing.execute("SHOW RUNS ALL")
            owners = {row[0]: (row[2], row[-1]) for row in listing.fetchall()}
            assert owners[run_id] == ("running", "alice")
            decide = admin.cursor()
            decide.execute(f"__approve:{request_id}")
            assert json.loads(decide.fetchall()[0][0])["status"] == "not_found"
            assert wait_until(lambda: store.query("SELECT status FROM approvals") == [("pending",)], 10)
            watch = admin.cursor()
            watch.execute(f"__attach:{run_id}", async_=True)
            assert rows(watch, 3) == parked
            watch.cancel()  # CancelOperation on the attached operation stops alice's run
        assert rest(cursor)[-1]["type"] == "error"
    assert wait_until(lambda: store.status(run_id) == "stopped", 10)
    assert store.query("SELECT status, decided_by FROM approvals") == [("denied", "system")]
    assert not any("DELETE" in json.dumps(body) and "tool" in body for body in llm.requests[1:])
    assert store.query("SELECT COUNT(*) FROM runs WHERE owner = 'root'") == [(0,)]


def test_a_user_who_is_no_administrator_sees_only_their_own_runs(agent: Start, llm: FakeOpenAIServer) -> None:
    engine = agent(**{"kyuubi.server.administrators": "root"})
    llm.add(text("Alice's."))
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("a question")
        run_id = rest(cursor)[0]["runId"]
    with connect(engine.host, engine.port, user="bob") as connection:
        cursor = connection.cursor()
        cursor.execute("SHOW RUNS")
        assert not any(run_id in map(str, row) for row in cursor.fetchall())
