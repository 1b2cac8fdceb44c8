"""The ReAct loop driven directly: real openai client, fake LLM server, the engine's tool registry
over real SQLite (and the real PostgreSQL for statements that must be cancelled)."""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import uuid

import pytest

from engine.agent.llm import LlmCallOptions, LlmClient, TextDelta, _Assembler
from engine.common.cancel import CancelToken
from engine.common.errors import AgentError, ConfigError, OperationCanceledError
from tests.agent.conftest import API_KEY, JDBC_URL, active_queries
from tests.fakes.openai_server import FakeOpenAIServer, Reply, ToolCallSpec, error, text, tool
from tests.support import databases


def test_text_answer_streams_in_kyuubi_order(harness):
    h = harness()
    h.llm.add(text("The ", "answer ", "is ", "42."))
    out = h.run("what is the answer?")
    assert out.error is None
    assert out.types()[0:2] == ["agent_start", "step_start"]
    assert out.types()[-2:] == ["step_end", "agent_finish"]
    assert out.text() == "The answer is 42."
    finish = out.events[-1].to_dict()
    assert finish == {
        "type": "agent_finish",
        "steps": 1,
        "accumulatedPromptTokens": 100,
        "accumulatedCompletionTokens": 20,
        "lastPromptTokens": 100,
        "lastCompletionTokens": 20,
    }
    body = h.llm.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "fake-model"
    assert {spec["function"]["name"] for spec in body["tools"]} >= {"run_select_query", "run_mutation_query"}
    system = body["messages"][0]
    assert system["role"] == "system"
    assert datetime.date.today().isoformat() in system["content"]
    assert "Run one read-only SQL query (SELECT/WITH/VALUES/EXPLAIN" in system["content"]
    assert body["messages"][-1] == {"role": "user", "content": "what is the answer?"}
    assert {k.lower(): v for k, v in h.llm.headers[0].items()}["authorization"] == f"Bearer {API_KEY}"


def test_tool_call_split_across_chunks_and_missing_id(harness):
    h = harness()
    h.llm.add(
        Reply(
            tool_calls=(
                ToolCallSpec(
                    "run_select_query",
                    json.dumps({"sql": "SELECT SUM(amount) AS total FROM orders WHERE customer='ada'"}),
                    id="",
                    pieces=7,
                ),
            )
        ),
        text("Ada spent ", "19.75."),
    )
    out = h.run("how much did ada spend?")
    assert out.error is None, out.error
    assert out.types() == [
        "agent_start",
        "step_start",
        "tool_call",
        "tool_result",
        "step_end",
        "step_start",
        "content_delta",
        "step_end",
        "agent_finish",
    ]
    call, result = out.of("tool_call")[0], out.of("tool_result")[0]
    assert call.tool_call_id.startswith("call_local_")
    assert call.args == {"sql": "SELECT SUM(amount) AS total FROM orders WHERE customer='ada'"}
    assert result.tool_call_id == call.tool_call_id and not result.is_error
    assert "19.75" in result.output and result.table.rows == [(19.75,)]
    second = h.llm.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == call.tool_call_id
    assert second[-1] == {"role": "tool", "tool_call_id": call.tool_call_id, "content": result.output}
    assert out.events[-1].accumulated_prompt_tokens == 200


def test_reasoning_then_content_and_coalescing(harness):
    h = harness()
    h.llm.add(Reply(reasoning=tuple("thinking"), text=tuple("x" * 60)))
    out = h.run("q")
    kinds = [t for t in out.types() if t.endswith("_delta")]
    assert kinds[0] == "reasoning_delta" and kinds[-1] == "content_delta"
    assert "".join(e.text for e in out.of("reasoning_delta")) == "thinking"
    assert out.text() == "x" * 60
    assert len(out.of("content_delta")) < 10  # coalesced: not one row per token


def test_a_tick_comes_when_the_first_pending_text_is_due_however_steady_the_stream():
    """Text every 0.4 s with ticks 0.6 s after text: the tick is due 0.6 s after the first text
    since the last tick, so a coalescer flushes between the second and third delta; a tick 0.6 s
    after the latest text would never come while the stream stays this steady."""
    with FakeOpenAIServer() as llm:
        llm.add(Reply(text=("a", "b", "c", "d"), delay=0.4))
        client = LlmClient(llm.url, API_KEY)
        try:
            items = list(client.stream([], [], LlmCallOptions(model="m", poll=0.6), CancelToken()))
        finally:
            client.close()
    texts = [item.text if isinstance(item, TextDelta) else item for item in items[:-1]]
    assert [t for t in texts if t is not None] == ["a", "b", "c", "d"]
    assert None in texts[texts.index("b") : texts.index("c")]


def test_chunks_are_read_as_sent_and_fields_of_the_wrong_type_count_as_absent():
    assembler = _Assembler()
    odd = [
        None,
        "text",
        {"choices": "x", "usage": [1]},
        {"choices": [None, {"delta": "x", "finish_reason": 3}]},
        {"choices": [{"delta": {"content": 5, "tool_calls": [None, {"index": "a", "function": 1}]}}]},
    ]
    assert [assembler.feed(chunk) for chunk in odd] == [[], [], [], [], []]
    good = [
        {"choices": [{"delta": {"reasoning_content": "hm"}}]},
        {"choices": [{"delta": {"content": "ok"}, "finish_reason": "tool_calls"}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "id": "c1", "function": {"name": "f"}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "function": {"arguments": '{"a": 1}'}}]}}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}},
    ]
    deltas = [delta for chunk in good for delta in assembler.feed(chunk)]
    assert deltas == [TextDelta("reasoning", "hm"), TextDelta("content", "ok")]
    turn = assembler.turn(1)
    assert (turn.content, turn.reasoning, turn.finish_reason) == ("ok", "hm", "tool_calls")
    assert [(c.id, c.name, c.arguments) for c in turn.tool_calls][-1] == ("c1", "f", '{"a": 1}')
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens, turn.usage.total_tokens) == (7, 2, 9)


def test_stalling_llm_text_reaches_the_consumer_before_the_run_ends(harness):
    h = harness()
    h.llm.add(Reply(text=("first part. ", "second part. ", "third."), delay=0.6))
    out = h.run("q")
    assert out.error is None
    first_content = out.times[out.types().index("content_delta")]
    assert out.times[-1] - first_content > 0.8  # the first words were handed over long before the end
    assert out.text() == "first part. second part. third."


def test_429_then_success(harness):
    h = harness()
    h.llm.add(error(429, "slow down", retry_after="0"), text("ok"))
    out = h.run("q")
    assert out.error is None and out.text() == "ok"
    assert h.llm.request_count == 2


def test_500_storm_ends_with_a_clear_error(harness):
    h = harness({"kyuubi.engine.data.agent.llm.max.retries": "2"})
    h.llm.add(*(error(500, f"boom {API_KEY}") for _ in range(3)))
    out = h.run("q")
    assert isinstance(out.error, AgentError)
    assert out.types()[-2:] == ["error", "agent_finish"]
    message = out.of("error")[0].message
    assert "HTTP 500" in message and "3 attempts" in message
    assert API_KEY not in message and API_KEY not in str(out.error)
    assert h.llm.request_count == 3


def test_drop_mid_stream_is_an_error_event_not_a_retry(harness):
    h = harness()
    h.llm.add(Reply(text=("partial ", "answer ", "never ", "finished"), drop_after=3), text("unused"))
    out = h.run("q")
    assert isinstance(out.error, AgentError)
    assert "mid-response" in out.of("error")[0].message
    assert out.text() == "partial answer "
    assert h.llm.request_count == 1


def test_non_retryable_status_fails_at_once(harness):
    h = harness()
    h.llm.add(error(401, "bad key"))
    out = h.run("q")
    assert isinstance(out.error, AgentError) and "HTTP 401" in str(out.error)
    assert h.llm.request_count == 1


def test_cancel_while_the_llm_stalls(harness):
    h = harness()
    h.llm.add(Reply(text=("a", "b"), first_delay=20))
    token = h.token(60)
    threading.Timer(0.3, token.cancel).start()
    started = time.monotonic()
    out = h.run("q", cancel=token)
    assert isinstance(out.error, OperationCanceledError)
    assert time.monotonic() - started < 2
    assert h.session.memory.messages == [{"role": "user", "content": "q"}]


def slow_query() -> tuple[str, dict[str, str]]:
    """A unique marker and the arguments of a PostgreSQL query that runs for a minute."""
    marker = f"slow_{uuid.uuid4().hex[:8]}"
    return marker, {"sql": f"SELECT pg_sleep(60) AS {marker}"}


def test_cancel_during_a_tool_cancels_the_query_and_repairs_memory(pg_schema, harness):
    h = harness({JDBC_URL: databases.pg_jdbc_url(pg_schema)})
    marker, args = slow_query()
    h.llm.add(tool("run_select_query", args), text("next run"))
    token = h.token(60)
    started = threading.Event()

    def cancel_when_running() -> None:
        if databases.wait_until(lambda: active_queries(marker) == 1, 10):
            started.set()
            token.cancel()

    canceller = threading.Thread(target=cancel_when_running, name="test-canceller")
    canceller.start()
    out = h.run("q", cancel=token)
    canceller.join(10)
    assert started.is_set(), "the query never started"
    assert isinstance(out.error, OperationCanceledError)
    assert databases.wait_until(lambda: active_queries(marker) == 0, 2.0)  # the statement was cancelled
    messages = h.session.memory.messages
    assert messages[-1]["role"] == "tool" and "interrupted" in messages[-1]["content"]
    # the next statement works on the repaired history
    out2 = h.run("again")
    assert out2.error is None and out2.text() == "next run"


def test_tool_call_timeout_cancels_the_tool(pg_schema, harness):
    h = harness(
        {JDBC_URL: databases.pg_jdbc_url(pg_schema), "kyuubi.engine.data.agent.tool.call.timeout": "PT1S"}
    )
    marker, args = slow_query()
    h.llm.add(tool("run_select_query", args), text("gave up"))
    seen = threading.Event()

    def watch() -> None:
        if databases.wait_until(lambda: active_queries(marker) == 1, 5):
            seen.set()

    watcher = threading.Thread(target=watch, name="test-query-watch")
    watcher.start()
    out = h.run("q")
    watcher.join(10)
    assert out.error is None
    result = out.of("tool_result")[0]
    assert result.is_error and "timed out" in result.output
    assert seen.is_set(), "the query never started"
    assert databases.wait_until(lambda: active_queries(marker) == 0, 2.0)  # the statement was cancelled


def test_step_budget(harness):
    h = harness({"kyuubi.engine.data.agent.max.iterations": "2"})
    h.llm.add(tool("run_select_query", {"sql": "SELECT 1"}), tool("run_select_query", {"sql": "SELECT 2"}))
    out = h.run("loop forever")
    assert isinstance(out.error, AgentError) and "step budget" in str(out.error)
    assert out.types()[-2:] == ["error", "agent_finish"] and out.events[-1].steps == 2


def test_malformed_arguments_become_an_error_result(harness):
    h = harness()
    h.llm.add(tool("run_select_query", '{"sql": "SELECT'), text("sorry"))
    out = h.run("q")
    assert out.error is None
    result = out.of("tool_result")[0]
    assert result.is_error and "malformed arguments" in result.output
    assert "tool_call" not in out.types()  # the registry was never called


def test_memory_passes_to_the_next_statement(harness):
    h = harness()
    h.llm.add(text("Paris."), text("About 2 million."))
    h.run("What is the capital of France?")
    h.run("How many people live there?")
    second = h.llm.requests[1]["messages"]
    assert [m["role"] for m in second[1:]] == ["user", "assistant", "user"]
    assert second[1]["content"] == "What is the capital of France?" and second[2]["content"] == "Paris."


def test_settings_errors_name_their_key(harness):
    h = harness()
    with pytest.raises(ConfigError, match=r"tools\.disabled"):
        list(h.provider.run(h.request("q", {"kyuubi.engine.data.agent.tools.disabled": "no_such_tool"})))
    with pytest.raises(ConfigError, match=r"max\.iterations"):
        h.request("q", {"kyuubi.engine.data.agent.max.iterations": "zero"})
    with pytest.raises(ConfigError, match="temperature"):
        h.request("q", {"kyuubi.engine.data.agent.temperature": "9"})
    h2 = harness({"kyuubi.engine.data.agent.model": ""})
    with pytest.raises(ConfigError, match=r"kyuubi\.engine\.data\.agent\.model"):
        list(h2.provider.run(h2.request("q")))


def test_per_statement_settings_reach_the_llm(harness):
    h = harness()
    h.llm.add(text("ok"))
    out = h.run(
        "q",
        {
            "kyuubi.engine.data.agent.model": "other-model",
            "kyuubi.engine.data.agent.temperature": "0.3",
            "kyuubi.engine.data.agent.tools.disabled": "run_mutation_query",
        },
    )
    assert out.error is None
    body = h.llm.requests[0]
    assert body["model"] == "other-model" and body["temperature"] == 0.3
    names = {spec["function"]["name"] for spec in body["tools"]}
    assert "run_mutation_query" not in names and "run_select_query" in names
    assert "`run_mutation_query` (" not in body["messages"][0]["content"]


def test_an_abandoned_cancelled_run_does_not_block_the_session(harness):
    h = harness()
    h.llm.add(text("second answer"))
    token = CancelToken()
    abandoned = h.provider.run(h.request("one", cancel=token))
    next(abandoned)  # the run started; its consumer goes away without closing it
    token.cancel()
    out = h.run("two")
    assert out.error is None and out.text() == "second answer"
    abandoned.close()


def test_the_api_key_never_reaches_logs_or_errors(harness, caplog):
    h = harness({"kyuubi.engine.data.agent.llm.max.retries": "1"})
    h.llm.add(error(401, f"Incorrect API key provided: {API_KEY}"), error(500, API_KEY))
    with caplog.at_level(logging.DEBUG):
        out = h.run("q")
        out2 = h.run("q")
    assert isinstance(out.error, AgentError) and isinstance(out2.error, AgentError)
    assert API_KEY not in str(out.error) and API_KEY not in str(out2.error)
    assert "HTTP 401" in str(out.error)
    assert API_KEY not in caplog.text
