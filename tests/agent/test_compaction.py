"""Compaction across turns and within one long turn, its summary fallback, the split invariant,
memory repair and the system prompt."""

from __future__ import annotations

import datetime
import threading
import time

from engine.agent.compaction import compute_split
from engine.agent.memory import INTERRUPTED_RESULT, ConversationMemory
from engine.agent.prompt import build_system_prompt
from engine.common.errors import OperationCanceledError
from engine.tools.base import RiskLevel
from tests.fakes.openai_server import Reply, error, text, tool

TRIGGER = {"kyuubi.engine.data.agent.compaction.trigger.tokens": "256"}


def question(n: int) -> str:
    return f"question {n}: " + ("please look at the orders table again " * 20)


def responder_with_summary(summary_reply):
    def respond(body):
        if not body.get("stream"):
            return summary_reply
        return text("answer ", f"{len(body['messages'])}")

    return respond


def test_compaction_across_turns_summarises_old_turns(harness):
    h = harness(TRIGGER)
    h.llm._responder = responder_with_summary(text("## What the user wants\nthe SUMMARY of turn one"))
    first = h.run(question(1))
    assert first.error is None and "compaction" not in first.types()
    second = h.run(question(2))
    assert second.error is None
    assert second.types()[:3] == ["agent_start", "step_start", "compaction"]
    event = second.of("compaction")[0].to_dict()
    assert event["summarized"] == 2 and event["kept"] == 1
    assert event["triggerTokens"] == 256 and event["observedTokens"] >= 256
    summary_call = next(body for body in h.llm.requests if not body.get("stream"))
    assert "question 1:" in summary_call["messages"][1]["content"]
    streamed = [body for body in h.llm.requests if body.get("stream")][-1]["messages"]
    assert "the SUMMARY of turn one" in streamed[1]["content"]
    assert not any("question 1:" in str(m.get("content")) for m in streamed)
    assert streamed[-1]["content"] == question(2)


def test_summary_failure_falls_back_to_truncation(harness):
    h = harness(TRIGGER)
    h.llm._responder = responder_with_summary(error(400, "summaries are not supported"))
    h.run(question(1))
    out = h.run(question(2))
    assert out.error is None and "compaction" in out.types()
    streamed = [body for body in h.llm.requests if body.get("stream")][-1]["messages"]
    assert "were removed to fit the context window" in streamed[1]["content"]
    assert "question 1:" in streamed[1]["content"]  # the user's earlier question is still named


def test_compaction_within_one_long_turn_offloads_old_tool_results(harness):
    h = harness(TRIGGER)
    # 81 rows of a 43-character label: a Markdown table of about 4 KB, below the offload limits
    big = {
        "sql": "SELECT o1.customer || '"
        + "x" * 40
        + "' AS label FROM orders o1, orders o2, orders o3, orders o4"
    }
    h.llm.add(*(tool("run_select_query", big) for _ in range(4)), text("done"))
    out = h.run("summarise everything")
    assert out.error is None, out.error
    assert "compaction" in out.types()
    assert all(body.get("stream") for body in h.llm.requests)  # no summary call was needed
    results = out.of("tool_result")
    assert len(results) == 4 and not any(result.is_error for result in results)
    assert all(len(result.output) >= 3000 and "adaxxxx" in result.output for result in results)
    last = h.llm.requests[-1]["messages"]
    tool_messages = [m for m in last if m["role"] == "tool"]
    assert len(tool_messages) == 4
    assert tool_messages[0]["content"].startswith("[compacted")
    assert tool_messages[1]["content"].startswith("[compacted")
    assert tool_messages[-1]["content"] == results[-1].output  # the newest results stay verbatim
    for message, result in zip(tool_messages[:2], results[:2], strict=True):
        saved = h.session.workdir / "compacted" / f"{message['tool_call_id']}.txt"
        assert saved.read_text() == result.output  # the whole output was kept on disk
    # every tool call still has its result
    call_ids = [c["id"] for m in last if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
    assert call_ids == [m["tool_call_id"] for m in tool_messages]


def test_split_never_separates_a_tool_call_from_its_results():
    history = [
        {"role": "user", "content": "u1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "function": {"name": "t", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "a", "content": "r"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "u2"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "b", "function": {"name": "t", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "b", "content": "r"},
        {"role": "assistant", "content": "y"},
    ]
    for keep in range(0, 4):
        split = compute_split(history, keep)
        assert split.old + split.kept == history
        kept_results = {m["tool_call_id"] for m in split.kept if m["role"] == "tool"}
        kept_calls = {c["id"] for m in split.kept for c in m.get("tool_calls") or ()}
        assert kept_results <= kept_calls
    assert compute_split(history, 1).kept[0] == {"role": "user", "content": "u2"}


def test_memory_repair_adds_missing_results_and_drops_orphans():
    memory = ConversationMemory()
    memory.add_user("q")
    memory.add_tool_result("orphan", "x")
    memory.add_assistant(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "t", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "t", "arguments": "{}"}},
            ],
        }
    )
    memory.add_tool_result("a", "done")
    assert memory.repair() == 2
    assert [m["role"] for m in memory.messages] == ["user", "assistant", "tool", "tool"]
    assert memory.messages[-1] == {"role": "tool", "tool_call_id": "b", "content": INTERRUPTED_RESULT}
    assert memory.repair() == 0


def test_memory_cap_drops_whole_old_turns():
    memory = ConversationMemory(max_messages=10)
    for n in range(8):
        memory.add_user(f"q{n}")
        memory.add_assistant({"role": "assistant", "content": f"a{n}"})
    memory.add_user("last")
    assert len(memory.messages) <= 10 and memory.messages[0]["role"] == "user"
    assert memory.messages[-1]["content"] == "last"


def test_system_prompt_parts():
    prompt = build_system_prompt(
        [
            ("run_select_query", "Runs  a read-only\nquery.", RiskLevel.SAFE),
            ("run_mutation_query", "Changes data.", RiskLevel.DESTRUCTIVE),
        ],
        "## SQLite dialect\nUse strftime for dates.",
        datetime.date(2030, 1, 2),
    )
    assert "- `run_select_query` (SAFE): Runs a read-only query." in prompt
    assert "- `run_mutation_query` (DESTRUCTIVE): Changes data. Needs the user's approval." in prompt
    assert "Today's date: 2030-01-02" in prompt
    assert prompt.rstrip().endswith("Use strftime for dates.")
    assert "{{tool_descriptions}}" not in prompt


def test_compaction_event_is_emitted_only_once_per_step(harness):
    h = harness(TRIGGER)
    h.llm._responder = responder_with_summary(Reply(text=("short summary",)))
    h.run(question(1))
    out = h.run(question(2))
    steps = [i for i, t in enumerate(out.types()) if t == "step_start"]
    assert len(out.of("compaction")) == len(steps) == 1


def test_a_cancel_ends_a_stalled_summary_call_at_once(harness):
    """The summary is a non-streaming call; a cancel (the run's deadline too) must not wait for it."""
    h = harness(TRIGGER)
    h.llm._responder = responder_with_summary(Reply(text=("late summary",), headers_delay=30))
    h.run(question(1))
    token = h.token(60)
    before = h.llm.request_count  # the second turn's first request is its summary call

    def cancel_once_summarising() -> None:
        if h.llm.wait_for_requests(before + 1, 10):
            token.cancel()

    canceller = threading.Thread(target=cancel_once_summarising, name="test-canceller")
    canceller.start()
    started = time.monotonic()
    out = h.run(question(2), cancel=token)
    canceller.join(10)
    assert isinstance(out.error, OperationCanceledError)
    assert time.monotonic() - started < 5
