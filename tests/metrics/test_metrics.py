"""Issue 16 §1: Prometheus metrics, scraped over real HTTP after real PyHive statements answered
through the scripted LLM: every fixed metric name is present and moves; no label carries a user
name unless kyuubi.metrics.per.user=true; the metrics-only server of an engine in its own process
logs where it listens, answers only /metrics and stops with the engine."""

from __future__ import annotations

import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pyhive.exc import OperationalError

from tests.durable.support import API_KEY, EngineProcess, StoreTarget, agent_conf, connect, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, text, tool
from tests.metrics.conftest import Start, metrics_url, samples, scrape, value
from tests.store.test_outage import outage_control
from tests.support.databases import wait_until

NAMES = (
    "data_agent_runs_total",
    "data_agent_runs_active",
    "data_agent_sessions_active",
    "data_agent_llm_requests_total",
    "data_agent_llm_request_seconds_bucket",
    "data_agent_llm_request_seconds_count",
    "data_agent_llm_tokens_total",
    "data_agent_tool_calls_total",
    "data_agent_tool_call_seconds_count",
    "data_agent_approvals_total",
    "data_agent_fetch_rows_total",
    "data_agent_thrift_connections_active",
    "data_agent_rate_limited_total",
    "data_agent_store_write_errors_total",
)
METRICS = {"kyuubi.metrics.enabled": "true", "kyuubi.metrics.prometheus.port": "0"}


def test_every_metric_is_present_and_moves(agent: Start, llm: FakeOpenAIServer) -> None:
    engine = agent(
        **METRICS,
        **{"approval.mode": "NORMAL", "user.statements.per.minute": "1", "user.statements.burst": "6"},
    )
    url = metrics_url(engine)
    body, content_type = scrape(url)
    assert content_type.startswith("text/plain") and "version=" in content_type
    before = samples(body)
    assert "_created" not in body
    assert value(before, "data_agent_runs_total", status="success") == 0
    llm.add(
        tool("run_select_query", {"sql": "SELECT customer FROM orders"}),
        text("Three orders."),
        tool("run_mutation_query", {"sql": "DELETE FROM orders WHERE customer = 'bob'"}),
        text("Deleted bob's orders."),
    )
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("who ordered?")
        assert rest(cursor)[-1]["type"] == "agent_finish"
        cursor.execute("delete bob's orders", async_=True)
        request_id = rows(cursor, 3)[2]["requestId"]
        decide = connection.cursor()
        decide.execute(f"__approve:{request_id}")
        assert '"status":"ok"' in decide.fetchall()[0][0]
        assert rest(cursor)[-1]["type"] == "agent_finish"
        cursor.execute("SELECT customer FROM orders")
        assert cursor.fetchall() == [("ada",), ("ada",)]
        during = samples(scrape(url)[0])
    # another user's burst: six statements pass, the seventh is refused
    with connect(engine.host, engine.port, user="carol") as connection:
        cursor = connection.cursor()
        for _ in range(6):
            cursor.execute("SELECT customer FROM orders")
            cursor.fetchall()
        with pytest.raises(OperationalError, match=r"user\.statements\.per\.minute"):
            cursor.execute("SELECT customer FROM orders")
    assert wait_until(lambda: value(samples(scrape(url)[0]), "data_agent_thrift_connections_active") == 0, 10)
    after = samples(scrape(url)[0])
    for name in NAMES:
        assert any(key[0] == name for key in after), f"{name} is missing"
    assert value(during, "data_agent_thrift_connections_active") >= 1
    assert value(during, "data_agent_sessions_active") == 1
    assert value(after, "data_agent_sessions_active") == 0
    assert value(after, "data_agent_runs_total", status="success") == 2
    assert value(after, "data_agent_runs_active") == 0
    assert value(after, "data_agent_llm_requests_total", outcome="success") == 4
    assert value(after, "data_agent_llm_request_seconds_count") == 4
    assert value(after, "data_agent_llm_tokens_total", kind="prompt") == 400
    assert value(after, "data_agent_llm_tokens_total", kind="completion") == 80
    for name in ("run_select_query", "run_mutation_query"):
        assert value(after, "data_agent_tool_calls_total", tool=name, outcome="success") == 1
        assert value(after, "data_agent_tool_call_seconds_count", tool=name) == 1
    assert value(after, "data_agent_approvals_total", decision="approved") == 1
    assert value(after, "data_agent_fetch_rows_total") >= 2 + 6 * 2
    assert value(after, "data_agent_rate_limited_total", limit="user.statements.per.minute") == 1
    assert value(after, "data_agent_store_write_errors_total") == 0
    body = scrape(url)[0]
    assert "alice" not in body and "carol" not in body  # no user name without per.user


def test_per_user_labels_only_when_asked(agent: Start, llm: FakeOpenAIServer) -> None:
    engine = agent(**METRICS, **{"kyuubi.metrics.per.user": "true"})
    llm.add(text("Hello."))
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("hello")
        rest(cursor)
        found = samples(scrape(metrics_url(engine))[0])
    assert value(found, "data_agent_runs_total", status="success", user="alice") == 1
    assert value(found, "data_agent_sessions_active", user="alice") == 1
    assert value(found, "data_agent_llm_tokens_total", kind="prompt", user="alice") == 100
    assert value(found, "data_agent_llm_requests_total", outcome="success") == 1  # no user here


def test_no_metrics_server_unless_enabled(agent: Start) -> None:
    engine = agent()
    assert engine.app.metrics_server is None


SERVING_METRICS = re.compile(r"Metrics listening on (http://[\d.]+:\d+/metrics)")


def test_the_metrics_only_server_of_an_engine_process(
    tmp_path: Path, llm: FakeOpenAIServer, shop: Path, store: StoreTarget
) -> None:
    conf = {
        "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        "kyuubi.engine.data.agent.work.dir": str(tmp_path / "work"),
        **agent_conf(llm, f"jdbc:sqlite:{shop}", store),
        **METRICS,
        "kyuubi.frontend.protocols": "THRIFT_BINARY",  # no REST port: metrics get their own
    }
    process = EngineProcess(conf, env={"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": API_KEY})
    try:
        process.start()
        url = process.wait_for(SERVING_METRICS).group(1)
        llm.add(text("Hi."))
        with connect(process.host, process.port) as connection:
            cursor = connection.cursor()
            cursor.execute("hi")
            rest(cursor)
        found = samples(scrape(url)[0])
        assert value(found, "data_agent_runs_total", status="success") == 1
        for path in ("/", "/metrics/x"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                scrape(url.removesuffix("/metrics") + path)
            assert refused.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=10)
        assert wrong.value.code == 405
        process.signal(signal.SIGTERM)
        assert process.wait() == 0
        with pytest.raises(urllib.error.URLError):
            scrape(url)
    finally:
        process.stop()


def test_failed_store_writes_are_counted(agent: Start, llm: FakeOpenAIServer, store: StoreTarget) -> None:
    with outage_control(store) as outage:  # SQLite: another connection holds the write lock
        engine = agent(**METRICS, **{"store.commit.timeout": "PT1S"})
        url = metrics_url(engine)
        llm.add(text("During the outage."))
        outage.start()
        with connect(engine.host, engine.port) as connection:
            cursor = connection.cursor()
            cursor.execute("a question")
            assert rest(cursor)[-1]["type"] == "agent_finish"
        assert wait_until(
            lambda: value(samples(scrape(url)[0]), "data_agent_store_write_errors_total") >= 1, 30
        )
        outage.end()
